package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/pkg/events/eventstest"
)

// FreshnessResult is step 3.
type FreshnessResult struct {
	PollIntervalMs int            `json:"poll_interval_ms"`
	Runs           []FreshnessRun `json:"runs"`
}

// FreshnessRun is one fixed produce rate. Event time is set when a message
// is generated, just before it is handed to the Kafka writer.
type FreshnessRun struct {
	TargetRate   int     `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Messages     int     `json:"messages"`
	// From the ingester's predlog_ingester_freshness_seconds histogram
	// (event time → batch committed), interpolated within its buckets
	// like histogram_quantile.
	MetricP50   float64 `json:"metric_p50_seconds"`
	MetricP99   float64 `json:"metric_p99_seconds"`
	MetricCount float64 `json:"metric_count"`
	// Independent: sampled request ids polled in ClickHouse; latency is
	// event time → start of the first query that returned the id, so it
	// is exact to within the poll interval.
	Samples   int     `json:"samples"`
	Found     int     `json:"found"`
	PolledP50 float64 `json:"polled_p50_seconds"`
	PolledP99 float64 `json:"polled_p99_seconds"`
	PolledMax float64 `json:"polled_max_seconds"`
}

func runFreshness(ctx context.Context, e *env, o *options) (*FreshnessResult, error) {
	res := &FreshnessResult{PollIntervalMs: int(o.pollEvery.Milliseconds())}
	for _, rate := range o.freshRates {
		run, err := freshnessRun(ctx, e, o, rate)
		if err != nil {
			return nil, fmt.Errorf("%d/s: %w", rate, err)
		}
		logf("%d/s: achieved %.0f/s; ingester metric p50 %.3fs p99 %.3fs; polled p50 %.3fs p99 %.3fs (%d/%d samples seen)",
			rate, run.AchievedRate, run.MetricP50, run.MetricP99, run.PolledP50, run.PolledP99, run.Found, run.Samples)
		res.Runs = append(res.Runs, *run)
	}
	return res, nil
}

const freshnessMetric = "predlog_ingester_freshness_seconds"

func freshnessRun(ctx context.Context, e *env, o *options, rate int) (*FreshnessRun, error) {
	db := fmt.Sprintf("bench_fresh_%d", rate)
	if err := e.migrate(ctx, db); err != nil {
		return nil, err
	}
	p, err := e.startIngester(ingesterOpts{name: db, db: db, group: db, topic: freshTopic(rate)})
	if err != nil {
		return nil, err
	}
	defer p.stop(30 * time.Second)
	if err := waitReady(ctx, p); err != nil {
		return nil, err
	}
	// Ready does not mean assigned: wait for the group to hand out the topic.
	err = waitFor(ctx, time.Minute, func() (bool, error) {
		m, err := scrape(ctx, p.opsAddr)
		if err != nil {
			return false, nil
		}
		return gaugeValue(m, "predlog_ingester_assigned_partitions") >= 8, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for partition assignment: %w", err)
	}
	before, err := scrape(ctx, p.opsAddr)
	if err != nil {
		return nil, err
	}

	pl := newPoller(e, db)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	polled := make(chan struct{})
	go func() { defer close(polled); pl.run(pollCtx, o.pollEvery) }()

	sampleEvery := max(1, rate/o.freshSamples)
	sent, took, err := producePaced(ctx, e.kafka, freshTopic(rate), rate, o.freshFor, o.seed, sampleEvery, pl.add)
	if err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	run := &FreshnessRun{TargetRate: rate, Messages: sent, AchievedRate: float64(sent) / took.Seconds()}

	// Let the ingester catch up: every sample seen, or a minute.
	_ = waitFor(ctx, time.Minute, func() (bool, error) { return pl.pending() == 0, nil })
	stopPoll()
	<-polled
	after, err := scrape(ctx, p.opsAddr)
	if err != nil {
		return nil, err
	}
	h := histogramDelta(parseHistogram(before, freshnessMetric), parseHistogram(after, freshnessMetric))
	run.MetricCount = h.count()
	run.MetricP50, run.MetricP99 = h.quantile(0.5), h.quantile(0.99)
	lat := pl.latencies()
	run.Samples, run.Found = pl.samples(), len(lat)
	if len(lat) > 0 {
		run.PolledP50, run.PolledP99, run.PolledMax = quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1]
	}
	p.stop(30 * time.Second)
	_, _ = e.query(ctx, "DROP DATABASE IF EXISTS "+db)
	return run, nil
}

// producePaced produces rate messages per second for d with event_time =
// now, handing every sampleEvery-th message's request id and event time to
// sample. It returns how many it sent and how long that took.
func producePaced(ctx context.Context, brokers, topic string, rate int, d time.Duration, seed uint64, sampleEvery int, sample func(id string, eventMs int64)) (int, time.Duration, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers), Topic: topic, Balancer: &kafka.RoundRobin{},
		BatchSize: 1000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond,
		Compression: kafka.Lz4, RequiredAcks: kafka.RequireOne,
	}
	defer w.Close()
	g := eventstest.New(seed, eventstest.Config{EpochMillis: true, Start: time.Now()})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two synchronous writes in flight, so one slow acknowledgement does not
	// stall the generator's clock.
	chunks := make(chan []kafka.Message, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var werr error
	for range 2 {
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

	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	var err error
loop:
	for {
		el := time.Since(start)
		if el >= d {
			break
		}
		n := int(float64(rate)*el.Seconds()) - sent
		if n > 0 {
			buf := make([]byte, 0, n*850)
			msgs := make([]kafka.Message, n)
			now := time.Now().UnixMilli()
			for i := range msgs {
				s := len(buf)
				buf = g.AppendPrediction(buf)
				m := buf[s:len(buf):len(buf)]
				setEventTime(m, now)
				msgs[i].Value = m
				if (sent+i)%sampleEvery == 0 {
					sample(string(m[len(`{"request_id":"`):len(`{"request_id":"`)+36]), now)
				}
			}
			select {
			case chunks <- msgs:
			case <-ctx.Done():
				err = ctx.Err()
				break loop
			}
			sent += n
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(chunks)
	wg.Wait()
	took := time.Since(start)
	if werr != nil {
		return sent, took, werr
	}
	return sent, took, err
}

var eventTimeKey = []byte(`"event_time":`)

// setEventTime overwrites the epoch-millisecond event time of msg in place
// (13 digits, the same length until the year 2286).
func setEventTime(msg []byte, ms int64) {
	i := bytes.Index(msg, eventTimeKey)
	if i < 0 {
		return
	}
	i += len(eventTimeKey)
	var d [20]byte
	v := strconv.AppendInt(d[:0], ms, 10)
	copy(msg[i:i+len(v)], v)
}

// poller looks for sampled request ids in ClickHouse.
type poller struct {
	e  *env
	db string

	mu      sync.Mutex
	wait    map[string]int64 // request id → event time (ms)
	lat     []float64        // seconds
	nsample int
}

func newPoller(e *env, db string) *poller {
	return &poller{e: e, db: db, wait: map[string]int64{}}
}

func (p *poller) add(id string, eventMs int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wait[id] = eventMs
	p.nsample++
}

func (p *poller) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.wait)
}

func (p *poller) samples() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nsample
}

// latencies returns the seen samples' latencies, sorted.
func (p *poller) latencies() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := slices.Clone(p.lat)
	slices.Sort(l)
	return l
}

func (p *poller) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		ids := make([]string, 0, min(len(p.wait), 1000))
		for id := range p.wait {
			if len(ids) == cap(ids) {
				break
			}
			ids = append(ids, id)
		}
		p.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		start := time.Now()
		out, err := p.e.query(ctx, "SELECT request_id FROM "+p.db+".prediction_logs WHERE request_id IN ('"+
			strings.Join(ids, "','")+"') FORMAT TabSeparated")
		if err != nil {
			continue // busy engine or shutting down: the next tick retries
		}
		p.mu.Lock()
		for id := range strings.FieldsSeq(out) {
			if ev, ok := p.wait[id]; ok {
				p.lat = append(p.lat, float64(start.UnixMilli()-ev)/1e3)
				delete(p.wait, id)
			}
		}
		p.mu.Unlock()
	}
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// histogram is a Prometheus histogram's cumulative buckets.
type histogram struct {
	le  []float64 // upper bounds, ascending, +Inf last
	cum []float64
}

// parseHistogram reads name's _bucket series from a text exposition
// (one series: the metric has no labels besides le).
func parseHistogram(text, name string) histogram {
	var h histogram
	prefix := name + `_bucket{le="`
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		leS, valS, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		le, err1 := strconv.ParseFloat(leS, 64)
		v, err2 := strconv.ParseFloat(strings.TrimSpace(valS), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		h.le, h.cum = append(h.le, le), append(h.cum, v)
	}
	sort.Sort(byLe(h))
	return h
}

type byLe histogram

func (b byLe) Len() int           { return len(b.le) }
func (b byLe) Less(i, j int) bool { return b.le[i] < b.le[j] }
func (b byLe) Swap(i, j int) {
	b.le[i], b.le[j] = b.le[j], b.le[i]
	b.cum[i], b.cum[j] = b.cum[j], b.cum[i]
}

// histogramDelta is after - before, bucket by bucket.
func histogramDelta(before, after histogram) histogram {
	d := histogram{le: slices.Clone(after.le), cum: slices.Clone(after.cum)}
	for i := range d.le {
		if i < len(before.le) && before.le[i] == d.le[i] {
			d.cum[i] -= before.cum[i]
		}
	}
	return d
}

func (h histogram) count() float64 {
	if len(h.cum) == 0 {
		return 0
	}
	return h.cum[len(h.cum)-1]
}

// quantile interpolates linearly within the bucket holding rank q, as
// Prometheus' histogram_quantile does; a rank in the +Inf bucket returns the
// largest finite bound.
func (h histogram) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return 0 // JSON has no NaN; metric_count 0 says there was nothing
	}
	rank := q * n
	for i, c := range h.cum {
		if c < rank {
			continue
		}
		if math.IsInf(h.le[i], 1) {
			if i == 0 {
				return 0
			}
			return h.le[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.le[i-1], h.cum[i-1]
		}
		if c == below {
			return h.le[i]
		}
		return lo + (h.le[i]-lo)*(rank-below)/(c-below)
	}
	return h.le[len(h.le)-1]
}

// gaugeValue returns the value of an unlabelled gauge, or 0.
func gaugeValue(text, name string) float64 {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}
