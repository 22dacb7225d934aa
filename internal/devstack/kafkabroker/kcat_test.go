package kafkabroker

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// librdkafka is the other client family people point at the devstack (kcat
// for poking at topics); it negotiates versions and parses Metadata on its
// own, so it catches protocol gaps kafka-go does not.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat not on PATH: .ci/run must install it (apt-get install -y kcat)")
		}
		t.Skip("kcat not on PATH; apt-get install -y kcat to run this test")
	}
	const topic = "kcat.t"
	ctx := testCtx(t)
	b := startBroker(t, Config{Topics: map[string]int{topic: 1}})

	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", b.Addr()}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}

	// kcat produces two keyed messages; kafka-go a third with headers.
	run("k1:first\nk2:second\n", "-P", "-t", topic, "-K", ":")
	w := newWriter(t, b, topic, nil)
	err = w.WriteMessages(ctx, kafka.Message{
		Key:     []byte("k3"),
		Value:   []byte("third"),
		Headers: []kafka.Header{{Key: "model", Value: []byte("m1")}},
	})
	if err != nil {
		t.Fatalf("kafka-go write: %v", err)
	}

	got := run("", "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%p|%o|%k|%s|%h\n`)
	want := "0|0|k1|first|\n0|1|k2|second|\n0|2|k3|third|model=m1\n"
	if got != want {
		t.Fatalf("kcat consumed:\n%s\nwant:\n%s", got, want)
	}

	// And kafka-go reads what kcat produced.
	r := newReader(t, kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: 0})
	var gotKG []string
	for _, m := range readN(ctx, t, r, 2) {
		gotKG = append(gotKG, msgString(m))
	}
	if got, want := strings.Join(gotKG, ","), "k1=first,k2=second"; got != want {
		t.Fatalf("kafka-go read %q, want %q", got, want)
	}
}
