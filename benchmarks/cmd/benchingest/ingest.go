package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/procstat"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// IngestResult is step 2.
type IngestResult struct {
	Rows            int         `json:"rows"`
	MessageBytes    int         `json:"message_bytes"` // of the first message
	Partitions      int         `json:"partitions"`
	ProduceSeconds  float64     `json:"produce_seconds"`
	ProducePerSec   float64     `json:"produce_per_sec"`
	Runs            []IngestRun `json:"runs"`
	ProfileFile     string      `json:"profile_file,omitempty"`
	ProfileTop      string      `json:"profile_top,omitempty"`
	ProfileTopFile  string      `json:"profile_top_file,omitempty"`
	ProfileOverhead string      `json:"profile_note,omitempty"`
}

// IngestRun is one consumer group draining the pre-produced topic.
type IngestRun struct {
	Instances int `json:"instances"`
	Rows      int `json:"rows"` // count() in ClickHouse after the ingesters stopped
	// RowsPerSec is the steady rate: rows committed after the first batch
	// became visible, over the time from then to the last row (Seconds).
	// WallRowsPerSec divides all rows by WallSeconds, from starting the
	// processes (so it includes startup, the group join and the first batch).
	Seconds        float64 `json:"seconds"`
	RowsPerSec     float64 `json:"rows_per_sec"`
	WallSeconds    float64 `json:"wall_seconds"`
	WallRowsPerSec float64 `json:"wall_rows_per_sec"`
	// CPU of the ingester processes alone (utime+stime, summed over
	// instances), read just before stopping them.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_rows"`
	PeakRSSMiB           float64 `json:"peak_rss_mib"` // max VmHWM over instances
	// CPU the devstack (Kafka + embedded ClickHouse) used meanwhile.
	DevstackCPUSeconds float64 `json:"devstack_cpu_seconds"`
	Profiled           bool    `json:"profiled"`
}

const benchTopic = "predlog.predictions" // 8 partitions in the devstack

func runIngest(ctx context.Context, e *env, o *options, stamp string) (*IngestResult, error) {
	res := &IngestResult{Rows: o.rows, Partitions: 8}
	t0 := time.Now()
	size, err := preProduce(ctx, e.kafka, benchTopic, o.rows, o.seed)
	if err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	res.MessageBytes = size
	res.ProduceSeconds = time.Since(t0).Seconds()
	res.ProducePerSec = float64(o.rows) / res.ProduceSeconds
	logf("produced %d messages of %d bytes in %.1fs (%.0f/s)", o.rows, size, res.ProduceSeconds, res.ProducePerSec)

	outDir := inRoot(e.root, o.outDir)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	profile := filepath.Join(outDir, stamp+"-ingester.cpu.pprof")
	for _, n := range []int{1, 2} {
		prof := ""
		if n == 1 {
			prof = profile
		}
		run, err := ingestRun(ctx, e, o.rows, n, prof)
		if err != nil {
			return nil, fmt.Errorf("%d instance(s): %w", n, err)
		}
		logf("%d instance(s): %.0f rows/s steady, %.0f rows/s over %.1fs wall, %.1f CPU s per 1M rows, peak RSS %.0f MiB (devstack used %.1f CPU s)",
			n, run.RowsPerSec, run.WallRowsPerSec, run.WallSeconds, run.CPUSecondsPerMillion, run.PeakRSSMiB, run.DevstackCPUSeconds)
		res.Runs = append(res.Runs, *run)
	}

	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", e.ingester, profile).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w\n%s", err, top)
	}
	topFile := filepath.Join(outDir, stamp+"-ingester.cpu.top.txt")
	if err := os.WriteFile(topFile, top, 0o644); err != nil {
		return nil, err
	}
	res.ProfileFile, res.ProfileTopFile = rel(e.root, profile), rel(e.root, topFile)
	res.ProfileTop = string(top)
	res.ProfileOverhead = "the single-instance run is CPU-profiled from start to the last row (pprof at 100 Hz, a few percent overhead)"
	return res, nil
}

// ingestRun migrates a fresh database, starts n ingesters in a fresh
// consumer group on the pre-produced topic and waits until ClickHouse holds
// all rows.
func ingestRun(ctx context.Context, e *env, rows, n int, profile string) (*IngestRun, error) {
	db := fmt.Sprintf("bench_ingest_%d", n)
	if err := e.migrate(ctx, db); err != nil {
		return nil, err
	}
	dsBefore, err := procstat.Read(e.devstack.pid())
	if err != nil {
		return nil, err
	}
	run := &IngestRun{Instances: n, Profiled: profile != ""}
	start := time.Now()
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop(30 * time.Second)
		}
	}()
	for i := range n {
		opt := ingesterOpts{name: fmt.Sprintf("ingester-%d-of-%d", i+1, n), db: db, group: db}
		if i == 0 {
			opt.cpuProfile = profile
		}
		p, err := e.startIngester(opt)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}

	var first time.Time
	firstCount, last, lastLog := 0, 0, time.Now()
	err = waitFor(ctx, 8*time.Minute, func() (bool, error) {
		for _, p := range procs {
			if p.exited() {
				return false, fmt.Errorf("%s exited: %s", p.name, p.logTail())
			}
		}
		c, err := e.count(ctx, db)
		if err != nil {
			return false, nil // the engine may be busy; poll again
		}
		if c > 0 && first.IsZero() {
			first, firstCount = time.Now(), c
		}
		if time.Since(lastLog) >= 5*time.Second {
			logf("  %d instance(s): %d/%d rows (%.0f rows/s over the last %.0fs)", n, c, rows,
				float64(c-last)/time.Since(lastLog).Seconds(), time.Since(lastLog).Seconds())
			last, lastLog = c, time.Now()
		}
		return c >= rows, nil
	})
	if err != nil {
		return nil, err
	}
	done := time.Now()
	run.Seconds = done.Sub(first).Seconds()
	run.WallSeconds = done.Sub(start).Seconds()
	run.WallRowsPerSec = float64(rows) / run.WallSeconds
	if firstCount < rows {
		run.RowsPerSec = float64(rows-firstCount) / run.Seconds
	} else {
		run.RowsPerSec = run.WallRowsPerSec // all rows came in the first batch(es) seen
	}

	if profile != "" {
		if err := procs[0].cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return nil, err
		}
		if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
			_, err := os.Stat(profile + ".done")
			return err == nil, nil
		}); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		_ = os.Remove(profile + ".done")
	}
	for _, p := range procs {
		st, err := procstat.Read(p.pid())
		if err != nil {
			return nil, err
		}
		run.CPUSeconds += st.CPUSeconds
		run.PeakRSSMiB = max(run.PeakRSSMiB, float64(st.PeakRSS)/(1<<20))
	}
	run.CPUSecondsPerMillion = run.CPUSeconds / float64(rows) * 1e6
	dsAfter, err := procstat.Read(e.devstack.pid())
	if err != nil {
		return nil, err
	}
	run.DevstackCPUSeconds = dsAfter.CPUSeconds - dsBefore.CPUSeconds

	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(30 * time.Second) })
	}
	wg.Wait()
	run.Rows, err = e.count(ctx, db)
	if err != nil {
		return nil, err
	}
	if run.Rows != rows {
		logf("  warning: %s holds %d rows, produced %d", db, run.Rows, rows)
	}
	_, _ = e.query(ctx, "DROP DATABASE IF EXISTS "+db) // frees the engine's memory and disk for the next run
	return run, nil
}

// preProduce writes rows prediction logs (eventstest defaults, event times
// from an hour ago, inside the table's TTL) to topic as fast as it can.
// It returns the size of the first message.
func preProduce(ctx context.Context, brokers, topic string, rows int, seed uint64) (int, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers), Topic: topic, Balancer: &kafka.RoundRobin{},
		BatchSize: 1000, BatchBytes: 16 << 20, BatchTimeout: 20 * time.Millisecond,
		Compression: kafka.Lz4, RequiredAcks: kafka.RequireOne,
	}
	defer w.Close()
	g := eventstest.New(seed, eventstest.Config{Start: time.Now().Add(-time.Hour)})
	const chunk = 8000 // 1000 per partition: full batches
	chunks := make(chan []kafka.Message)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var werr error
	for range 4 { // writers in flight; the broker and the generator share 2 cores
		wg.Go(func() {
			for msgs := range chunks {
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					mu.Lock()
					werr = errors.Join(werr, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	first, sent, lastLog := 0, 0, time.Now()
	var err error
loop:
	for sent < rows {
		n := min(chunk, rows-sent)
		buf := make([]byte, 0, n*850)
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			start := len(buf)
			buf = g.AppendPrediction(buf)
			msgs[i].Value = buf[start:len(buf):len(buf)]
		}
		if first == 0 {
			first = len(msgs[0].Value)
		}
		select {
		case chunks <- msgs:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
		sent += n
		if time.Since(lastLog) >= 5*time.Second {
			logf("  produced %d/%d", sent, rows)
			lastLog = time.Now()
		}
	}
	close(chunks)
	wg.Wait()
	if werr != nil {
		return 0, werr
	}
	return first, err
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
