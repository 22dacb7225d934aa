package loadgen

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// recorder is a fake WriteFunc that keeps what it was given and fails the
// messages fail says.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail func(kafka.Message) bool
}

func (r *recorder) write(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var werrs kafka.WriteErrors
	failed := false
	for _, m := range msgs {
		var err error
		if r.fail != nil && r.fail(m) {
			err, failed = errors.New("broker says no"), true
		} else {
			r.msgs = append(r.msgs, m)
		}
		werrs = append(werrs, err)
	}
	if failed {
		return werrs
	}
	return nil
}

func (r *recorder) byTopic() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, m := range r.msgs {
		n[m.Topic]++
	}
	return n
}

func TestRunnerCount(t *testing.T) {
	g := newGen(t, Config{Seed: 1, Models: 3, UnlabeledFraction: 0.1})
	rec := &recorder{}
	r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Count: 5000, Write: rec.write})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))

	n := rec.byTopic()
	assert.Equal(t, 5000, n[DefaultTopics.Predictions])
	assert.Equal(t, int(g.Stats().Outcomes), n[DefaultTopics.Outcomes])
	assert.Positive(t, n[DefaultTopics.Outcomes], "no label delay: outcomes follow at once")
	for _, topic := range []string{DefaultTopics.Models, DefaultTopics.TrainingJobs, DefaultTopics.FeatureImportance, DefaultTopics.FeatureBaselines} {
		assert.Equal(t, 4, n[topic], topic) // 3 models, the first with two versions
	}
	// Metadata comes first, and predictions are keyed by request id.
	assert.Equal(t, DefaultTopics.Models, rec.msgs[0].Topic)
	for _, m := range rec.msgs {
		if m.Topic == DefaultTopics.Predictions {
			assert.True(t, bytes.HasPrefix(m.Value, append(append([]byte(`{"request_id":"`), m.Key...), '"')))
			break
		}
	}
	s := r.Snapshot()
	assert.Equal(t, int64(5000), s.Predictions)
	assert.Equal(t, int64(n[DefaultTopics.Outcomes]), s.Outcomes)
	assert.Zero(t, s.Errors)
}

func TestRunnerCountsErrors(t *testing.T) {
	g := newGen(t, Config{Seed: 1})
	i := 0
	rec := &recorder{fail: func(m kafka.Message) bool {
		if m.Topic != DefaultTopics.Predictions {
			return false
		}
		i++
		return i%10 == 0
	}}
	r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Count: 2000, Write: rec.write})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))
	s := r.Snapshot()
	assert.Equal(t, int64(200), s.Errors)
	assert.Equal(t, int64(1800), s.Predictions)
}

func TestRunnerMetadataFailureIsFatal(t *testing.T) {
	g := newGen(t, Config{Seed: 1})
	r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Count: 10,
		Write: func(context.Context, ...kafka.Message) error { return errors.New("no brokers") }})
	require.NoError(t, err)
	assert.ErrorContains(t, r.Run(context.Background()), "publish metadata: no brokers")
}

// With a rate, event times follow the message number, not the clock: the
// output is the same on every run.
func TestRunnerRateEventTimes(t *testing.T) {
	out := func() (all [][]byte, last string) {
		g := newGen(t, Config{Seed: 4, LabelDelay: 100 * time.Millisecond})
		rec := &recorder{}
		r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Rate: 20000, Count: 400, TimeScale: 10, Write: rec.write})
		require.NoError(t, err)
		require.NoError(t, r.Run(context.Background()))
		for _, m := range rec.msgs {
			switch m.Topic {
			case DefaultTopics.Predictions:
				last = max(last, eventTimeOf(m.Value))
				fallthrough
			case DefaultTopics.Outcomes:
				all = append(all, m.Value)
			}
		}
		return all, last
	}
	a, last := out()
	b, _ := out()
	// Two writers may deliver chunks in either order: compare as sets.
	slices.SortFunc(a, bytes.Compare)
	slices.SortFunc(b, bytes.Compare)
	assert.Equal(t, a, b)
	// 400 predictions at 20000/s × 10 span 200 ms of simulated time.
	assert.Equal(t, "2025-11-26T14:00:00.199Z", last)
}

func TestRunnerStopsOnCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the writers and the ticker are gone
	g := newGen(t, Config{Seed: 1})
	rec := &recorder{}
	r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Rate: 1000, Write: rec.write})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return r.Snapshot().Predictions > 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestSimStart(t *testing.T) {
	now := time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		give RunnerOptions
		want time.Time
	}{
		{name: "real time starts now", give: RunnerOptions{Duration: time.Hour}, want: now},
		{name: "compressed time ends now", give: RunnerOptions{Duration: time.Minute, TimeScale: 60}, want: now.Add(-59 * time.Minute)},
		{name: "count at a rate", give: RunnerOptions{Count: 6000, Rate: 100, TimeScale: 10}, want: now.Add(-9 * time.Minute)},
		{name: "no known length", give: RunnerOptions{TimeScale: 10}, want: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, SimStart(now, time.Time{}, tt.give))
		})
	}
	explicit := now.Add(-time.Hour)
	assert.Equal(t, explicit, SimStart(now, explicit, RunnerOptions{Duration: time.Minute, TimeScale: 60}))
}

func TestFormatLine(t *testing.T) {
	prev := Snapshot{Predictions: 1000, Elapsed: 9 * time.Second}
	s := Snapshot{Predictions: 12345, Outcomes: 678, Errors: 2, Bytes: 10 << 20, Elapsed: 10*time.Second + 300*time.Millisecond,
		SimTime: time.Date(2025, 11, 26, 14, 5, 0, 0, time.UTC), Drifting: true}
	assert.Equal(t, "rate 8,726/s  sent 12,345 predictions, 678 outcomes (10.0 MiB)  errors 2  elapsed 10s  sim 2025-11-26 14:05:00 (drifting)",
		FormatLine(s, prev, false))
	assert.Contains(t, FormatLine(s, prev, true), "rate 1,198/s") // the average
	assert.Equal(t, "-1,234,567", group(-1234567))
	assert.Equal(t, "999", group(999))
	assert.Equal(t, "512 B", bytesIEC(512))
}

func TestProgressPlainAndTerminal(t *testing.T) {
	for _, term := range []bool{false, true} {
		var buf bytes.Buffer
		p := &Progress{Out: &buf, Terminal: term, Interval: time.Hour, Snapshot: func() Snapshot { return Snapshot{Predictions: 1} }}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, p.Run(ctx))
		if term {
			assert.Regexp(t, `^\r.*done\x1b\[K\n$`, buf.String())
		} else {
			assert.Regexp(t, `^rate .*done\n$`, buf.String())
		}
	}
}

func eventTimeOf(msg []byte) string {
	_, after, _ := bytes.Cut(msg, []byte(`"event_time":"`))
	ts, _, _ := bytes.Cut(after, []byte(`"`))
	return string(ts)
}

func TestRunnerDurationAtRate(t *testing.T) {
	g := newGen(t, Config{Seed: 1})
	rec := &recorder{}
	r, err := NewRunner(g, RunnerOptions{Topics: DefaultTopics, Rate: 10000, Duration: 200 * time.Millisecond, Write: rec.write})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))
	assert.Equal(t, int64(2000), r.Snapshot().Predictions, "rate × duration, exactly")
}
