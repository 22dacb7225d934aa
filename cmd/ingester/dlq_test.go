package main

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/internal/testenv"
)

func TestParseReplayFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     dlq.ReplayConfig
		wantRest []string
		wantErr  string
	}{
		{name: "defaults", args: nil, want: dlq.ReplayConfig{Group: dlq.DefaultReplayGroup}},
		{
			name: "all flags, config flags left",
			args: []string{"--code", "invalid_time,clickhouse_rejected", "--kafka.brokers", "b:9092", "-source-topic=t1", "--dry-run", "--group=g", "--log.level=error"},
			want: dlq.ReplayConfig{Group: "g", Codes: []string{"invalid_time", "clickhouse_rejected"}, SourceTopics: []string{"t1"}, DryRun: true},
			// A config flag's separate value stays with it.
			wantRest: []string{"--kafka.brokers", "b:9092", "--log.level=error"},
		},
		{name: "dry-run=false", args: []string{"--dry-run=false"}, want: dlq.ReplayConfig{Group: dlq.DefaultReplayGroup}},
		{name: "empty code", args: []string{"--code=a,,b"}, wantErr: `invalid --code="a,,b": empty item`},
		{name: "missing value", args: []string{"--group"}, wantErr: "--group needs a value"},
		{name: "empty group", args: []string{"--group="}, wantErr: `invalid --group=""`},
		{name: "twice", args: []string{"--code=a", "--code=b"}, wantErr: "--code given more than once"},
		{name: "bad bool", args: []string{"--dry-run=maybe"}, wantErr: "invalid --dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := parseReplayFlags(tt.args)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantRest, rest)
		})
	}
}

func TestCheckSelection(t *testing.T) {
	topics := []string{"predlog.predictions", "predlog.outcomes"}
	tests := []struct {
		name    string
		codes   []string
		sources []string
		wantErr string
	}{
		{name: "all"},
		{name: "known", codes: []string{"clickhouse_rejected", "invalid_time", "unknown"}, sources: []string{"predlog.outcomes"}},
		{name: "misspelt code", codes: []string{"invalid_time", "clickhouse_rejectd"}, wantErr: `invalid --code "clickhouse_rejectd": not a code the ingester writes (clickhouse_rejected, empty,`},
		{name: "topic not consumed", sources: []string{"predlog.prediction"}, wantErr: `invalid --source-topic "predlog.prediction": not a topic the config consumes (kafka.topics: predlog.predictions, predlog.outcomes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSelection(dlq.ReplayConfig{Codes: tt.codes, SourceTopics: tt.sources}, topics)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestDLQReplayCommand runs `ingester dlq replay` as an operator would:
// the config flags name the broker and the DLQ topic, --code selects.
func TestDLQReplayCommand(t *testing.T) {
	st := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src, dlqTopic := st.Topic(t, 1), st.Topic(t, 1)
	w, err := dlq.New(dlq.Config{Topic: dlqTopic}, []string{st.KafkaAddr}, nil, nil, nil)
	require.NoError(t, err)
	rejected := []dlq.Rejected{
		{Topic: src, Key: []byte("k1"), Value: []byte(`{"n":1}`), Code: "clickhouse_rejected", Reason: "r"},
		{Topic: src, Key: []byte("k2"), Value: []byte(`{"n":2}`), Code: "invalid_json", Reason: "r"},
	}
	for range 50 { // kafka-go may not see the new topic's metadata at once
		if err = w.Write(ctx, rejected); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	require.NoError(t, w.Close())

	flags := []string{"--kafka.brokers=" + st.KafkaAddr, "--kafka.topics.dlq=" + dlqTopic, "--log.level=error", "--config", writeConfig(t)}
	out, err := runCapture(t, append([]string{"dlq", "replay", "--code=clickhouse_rejected", "--dry-run"}, flags...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "would replay "+dlqTopic+"/0@0 to "+src+"/0 (code clickhouse_rejected")
	assert.Contains(t, out, "Dry run: nothing was produced")
	assert.Empty(t, readAll(ctx, t, st.KafkaAddr, src))

	out, err = runCapture(t, append([]string{"dlq", "replay", "--code=clickhouse_rejected"}, flags...)...)
	require.NoError(t, err)
	assert.Regexp(t, `clickhouse_rejected\s+`+src+`\s+1\s+0\s+0\n`, out)
	assert.Regexp(t, `invalid_json\s+`+src+`\s+0\s+0\s+1\n`, out)
	got := readAll(ctx, t, st.KafkaAddr, src)
	require.Len(t, got, 1)
	assert.Equal(t, "k1", string(got[0].Key))
	assert.Equal(t, `{"n":1}`, string(got[0].Value))
	assert.Empty(t, got[0].Headers)

	// The group committed: nothing more.
	out, err = runCapture(t, append([]string{"dlq", "replay", "--code=clickhouse_rejected"}, flags...)...)
	require.NoError(t, err)
	assert.Regexp(t, `total\s+0\s+0\s+0\n`, out)
	assert.Len(t, readAll(ctx, t, st.KafkaAddr, src), 1)

	// A DLQ topic that does not exist is an error naming it.
	_, err = runCapture(t, append([]string{"dlq", "replay"}, append(flags, "--kafka.topics.dlq=no-such-dlq")...)...)
	assert.ErrorContains(t, err, "dlq replay: dlq topic no-such-dlq")
}

// readAll reads partition 0 of topic up to its end.
func readAll(ctx context.Context, t *testing.T, addr, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, 0)
	require.NoError(t, err)
	last, err := conn.ReadLastOffset()
	conn.Close()
	require.NoError(t, err)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for range last {
		m, err := r.ReadMessage(ctx)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}
