package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Topics names the topics the runner produces to.
type Topics struct {
	Predictions, Outcomes, Models, TrainingJobs, FeatureImportance, FeatureBaselines string
}

// DefaultTopics are the ingester's defaults.
var DefaultTopics = Topics{
	Predictions:       "predlog.predictions",
	Outcomes:          "predlog.outcomes",
	Models:            "predlog.models",
	TrainingJobs:      "predlog.training-jobs",
	FeatureImportance: "predlog.feature-importance",
	FeatureBaselines:  "predlog.feature-baselines",
}

// WriteFunc writes messages synchronously (kafka.Writer.WriteMessages); an
// error of type kafka.WriteErrors says which messages failed.
type WriteFunc func(ctx context.Context, msgs ...kafka.Message) error

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	Topics Topics
	// Rate is predictions per wall second; 0 produces as fast as possible.
	Rate float64
	// Count stops after this many predictions; Duration after this much
	// wall time; 0 means no limit (then it runs until ctx is done).
	Count    int64
	Duration time.Duration
	// TimeScale is simulated seconds per wall second (default 1): with 60 a
	// label delay of 10m takes 10 wall seconds.
	TimeScale float64
	// Write produces messages; see NewKafkaWriter.
	Write WriteFunc
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Now is the wall clock; nil uses time.Now.
	Now func() time.Time
}

// Runner drives a Generator: metadata first, then predictions at the target
// rate with outcomes as they fall due.
//
// Event times: with a rate, prediction i is served at Start + i·TimeScale/Rate
// (simulated), and the output is the same on every run with the same seed;
// at full speed event times follow the wall clock, scaled.
type Runner struct {
	gen  *Generator
	opts RunnerOptions
	log  *zap.Logger

	// Live counters, read by the progress display.
	predictions, outcomes, errs, bytes atomic.Int64
	simMs                              atomic.Int64
	started                            atomic.Int64 // unix ns; 0 before Run
	lastErrLog                         atomic.Int64
}

// NewRunner returns a runner for gen.
func NewRunner(gen *Generator, opts RunnerOptions) (*Runner, error) {
	if opts.Write == nil {
		return nil, errors.New("loadgen: RunnerOptions.Write is required")
	}
	if opts.Rate < 0 || opts.Count < 0 || opts.Duration < 0 {
		return nil, errors.New("loadgen: rate, count and duration must be >= 0")
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.TimeScale < 0 {
		return nil, errors.New("loadgen: time scale must be > 0")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{gen: gen, opts: opts, log: log}, nil
}

// Snapshot is the runner's progress.
type Snapshot struct {
	Predictions, Outcomes, Errors, Bytes int64
	Elapsed                              time.Duration
	SimTime                              time.Time
	Drifting                             bool
}

// Snapshot returns the progress so far; safe to call concurrently with Run.
func (r *Runner) Snapshot() Snapshot {
	s := Snapshot{
		Predictions: r.predictions.Load(), Outcomes: r.outcomes.Load(),
		Errors: r.errs.Load(), Bytes: r.bytes.Load(),
	}
	if st := r.started.Load(); st != 0 {
		s.Elapsed = r.opts.Now().Sub(time.Unix(0, st))
	}
	if ms := r.simMs.Load(); ms != 0 {
		s.SimTime = time.UnixMilli(ms).UTC()
		s.Drifting = !r.gen.driftAt.IsZero() && !s.SimTime.Before(r.gen.driftAt)
	}
	return s
}

// chunkPeriod is how often the paced loop hands a chunk to the writers.
const chunkPeriod = 5 * time.Millisecond

// Run publishes the metadata, then produces until Count or Duration is
// reached or ctx is done. Write errors are counted, not fatal, except for the
// metadata, whose loss would leave the predictions without models.
func (r *Runner) Run(ctx context.Context) error {
	meta, err := r.gen.Metadata()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	msgs := make([]kafka.Message, len(meta))
	for i, ev := range meta {
		msgs[i] = kafka.Message{Topic: r.topicOf(ev.Kind), Key: []byte(ev.Key), Value: ev.Value}
	}
	if err := r.opts.Write(ctx, msgs...); err != nil {
		return fmt.Errorf("publish metadata: %w", err)
	}
	r.log.Info("published metadata", zap.Int("events", len(meta)), zap.String("drift_feature", r.gen.DriftFeature()),
		zap.Time("sim_start", r.gen.cfg.Start))

	start := r.opts.Now()
	r.started.Store(start.UnixNano())
	// Two synchronous writes in flight, so one slow acknowledgement does not
	// stall generation; the channel holds one chunk more, no further backlog.
	chunks := make(chan []kafka.Message, 1)
	// Writes outlive a cancelled ctx for a moment, so what was generated is
	// delivered (bounded by the writer's own timeouts).
	wctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for c := range chunks {
				r.write(wctx, c)
			}
		})
	}
	err = r.generate(ctx, start, chunks)
	close(chunks)
	wg.Wait()
	st := r.gen.Stats()
	r.log.Info("load generation finished",
		zap.Int64("predictions", st.Predictions), zap.Int64("outcomes", st.Outcomes),
		zap.Int64("errors", r.errs.Load()), zap.Int("outcomes_not_yet_due", r.gen.Pending()),
		zap.Int64("outcomes_dropped_over_max_pending", st.Dropped),
		zap.Duration("took", r.opts.Now().Sub(start)))
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: a clean stop
	}
	return err
}

// generate fills chunks until a limit is reached or ctx is done.
func (r *Runner) generate(ctx context.Context, start time.Time, chunks chan<- []kafka.Message) error {
	var tick <-chan time.Time
	if r.opts.Rate > 0 {
		t := time.NewTicker(chunkPeriod)
		defer t.Stop()
		tick = t.C
	}
	simStart := r.gen.cfg.Start
	var n int64 // predictions generated
	for {
		el := r.opts.Now().Sub(start)
		last := false // the duration is over: top up to the rate, then stop
		if r.opts.Duration > 0 && el >= r.opts.Duration {
			el, last = r.opts.Duration, true
		}
		if r.opts.Count > 0 && n >= r.opts.Count {
			return nil
		}
		want := int64(1000) // full speed: chunks of 1000
		if last && r.opts.Rate <= 0 {
			return nil
		}
		if r.opts.Rate > 0 {
			want = int64(r.opts.Rate*el.Seconds()) - n
		}
		if r.opts.Count > 0 {
			want = min(want, r.opts.Count-n)
		}
		if want > 0 {
			c := make([]kafka.Message, 0, want+want/4)
			buf := make([]byte, 0, want*900)
			for range want {
				var t time.Time
				if r.opts.Rate > 0 {
					t = simStart.Add(time.Duration(float64(n) * r.opts.TimeScale / r.opts.Rate * float64(time.Second)))
				} else {
					t = simStart.Add(time.Duration(float64(r.opts.Now().Sub(start)) * r.opts.TimeScale))
				}
				s := len(buf)
				var tr Truth
				buf, tr = r.gen.AppendPrediction(buf, t)
				c = append(c, kafka.Message{Topic: r.opts.Topics.Predictions, Key: []byte(tr.RequestID), Value: buf[s:len(buf):len(buf)]})
				n++
				for {
					s := len(buf)
					var key string
					var ok bool
					if buf, key, ok = r.gen.AppendDueOutcome(buf, t); !ok {
						break
					}
					c = append(c, kafka.Message{Topic: r.opts.Topics.Outcomes, Key: []byte(key), Value: buf[s:len(buf):len(buf)]})
				}
				r.simMs.Store(t.UnixMilli())
			}
			select {
			case chunks <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if last {
			return nil
		}
		if tick == nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// write sends one chunk and counts what was delivered and what failed.
func (r *Runner) write(ctx context.Context, msgs []kafka.Message) {
	err := r.opts.Write(ctx, msgs...)
	var werrs kafka.WriteErrors
	failed := make([]bool, len(msgs))
	switch {
	case err == nil:
	case errors.As(err, &werrs) && len(werrs) == len(msgs):
		for i, e := range werrs {
			failed[i] = e != nil
		}
	default:
		for i := range failed {
			failed[i] = true
		}
	}
	var p, o, e, b int64
	for i, m := range msgs {
		switch {
		case failed[i]:
			e++
		case m.Topic == r.opts.Topics.Outcomes:
			o++
			b += int64(len(m.Value))
		default:
			p++
			b += int64(len(m.Value))
		}
	}
	r.predictions.Add(p)
	r.outcomes.Add(o)
	r.errs.Add(e)
	r.bytes.Add(b)
	if err != nil {
		// At most one log line per 10s: the progress display shows the count.
		now := r.opts.Now().UnixNano()
		if last := r.lastErrLog.Load(); now-last >= int64(10*time.Second) && r.lastErrLog.CompareAndSwap(last, now) {
			r.log.Warn("produce failed", zap.Int64("failed_messages", e), zap.Error(err))
		}
	}
}

func (r *Runner) topicOf(kind string) string {
	switch kind {
	case KindModel:
		return r.opts.Topics.Models
	case KindTrainingJob:
		return r.opts.Topics.TrainingJobs
	case KindFeatureImportance:
		return r.opts.Topics.FeatureImportance
	default:
		return r.opts.Topics.FeatureBaselines
	}
}

// NewKafkaWriter returns a synchronous kafka-go writer (lz4, batched, keyed
// by request id) for brokers; the messages name their topics.
func NewKafkaWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		Compression:  kafka.Lz4,
		BatchSize:    1000,
		BatchBytes:   8 << 20,
		BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireOne,
		Async:        false, // errors are returned, and counted
	}
}

// SimStart picks the simulated start: explicit if set; otherwise such that
// the simulated clock reaches the wall clock when the run ends (so no event
// lies in the future), when the run's length is known (Duration, or Count at
// a Rate); otherwise now.
func SimStart(now time.Time, explicit time.Time, opts RunnerOptions) time.Time {
	if !explicit.IsZero() {
		return explicit
	}
	scale := opts.TimeScale
	if scale <= 0 {
		scale = 1
	}
	span := opts.Duration
	if opts.Rate > 0 && opts.Count > 0 {
		d := time.Duration(float64(opts.Count) / opts.Rate * float64(time.Second))
		if span == 0 || d < span {
			span = d
		}
	}
	return now.Add(-time.Duration(float64(span) * (scale - 1))).Truncate(time.Millisecond)
}
