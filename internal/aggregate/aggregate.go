// Package aggregate is the aggregator's computation core: it turns
// prediction_logs and outcomes into performance_metrics, drift_metrics and
// ab_results, window by window, with ClickHouse doing the heavy lifting.
//
// # Windows
//
// Windows are tumbling by prediction event_time, epoch-aligned
// (toStartOfInterval(event_time, INTERVAL g SECOND)), one set per configured
// granularity, named "1m", "1h", "1d". The first granularity is the base:
// raw rows are read only to compute per-base-window partial aggregates
// (performance_window_states, drift_window_states: counts, sums, quantile
// sketches, histograms), and every window of every granularity is rolled up
// from those, so an hour or a day costs a scan of small state rows.
//
// A window is computed once it closes (end + allowed lateness); it is
// recomputed when predictions or outcomes that belong to it are ingested
// later — found by scanning ingest_time past a watermark, so windows nothing
// touched are left alone — until end + label horizon, when it is computed a
// last time with final = true. Watermarks live in aggregator_watermarks,
// computed windows in aggregator_windows. Every write inserts whole rows
// with a newer computed_at into ReplacingMergeTree tables and watermarks only
// move forward after the cycle's writes succeeded, so a failed or repeated
// cycle, or several aggregators at once, leave one correct row per key
// (read with FINAL).
//
// # Exactness
//
// Exact (up to float summation order): counts, rates, confusion matrices
// and every metric derived from them (precision, recall, F1, accuracy,
// TPR/FPR/TNR/FNR, base and predicted-positive rates), per-class and
// averaged multiclass metrics, log loss, means, regression errors (ME, MAE,
// RMSE, MAPE, R²), drift histograms and the statistics computed from them.
// Approximate: latency and label-delay quantiles (DDSketch, merged across
// base windows: within 1 % of the exact quantile, the value at rank
// floor(q * (n - 1)), and the same on every recomputation; t-digests for
// windows with states from before migration 0031) and ROC AUC (binned:
// scores rounded to 0.001, ties within a bin count one half; the error is
// at most half the share of positive/negative pairs that share a bin). The outcome join matches a
// 64-bit hash of (model_id, request_id).
//
// Drift and A/B statistics are computed in Go from per-bin and per-variant
// counts that ClickHouse aggregates (see drift.go, ab.go, stats.go).
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chquery"
)

// Aggregator computes the windowed metrics. Its methods may be called from
// several goroutines; cycles and backfills run one at a time.
type Aggregator struct {
	cfg   Config
	grans []gran
	conn  driver.Conn
	log   *zap.Logger
	q     map[string]string
	m     *metrics

	mu          sync.Mutex // one cycle or backfill at a time
	insertViews bool       // feature_bins_1m_mv and feature_values_1m_mv created (drift.insert_time_bins), under mu
	// viewsChecked: with drift.insert_time_bins off, checked for those
	// views (to warn that inserts still pay for them), under mu.
	viewsChecked bool
	// viewsErr: the last error of listing those views, warned about once
	// (drift.insert_time_bins), under mu.
	viewsErr string
	// progress: the running backfill's, nil in cycles, under mu.
	progress *progress
	// pastHorizonEvery: how often the cycle counts the predictions that
	// came after their window's label horizon (pasthorizon.go; tests 0).
	pastHorizonEvery time.Duration
	// labels: binary models with labels other than their positive class
	// since their last positive-class label (labels.go), under mu.
	labels map[string]*labelState
	// labelModels bounds labels (maxLabelModels; tests lower it);
	// labelsFull: labels reached it (said once).
	labelModels int
	labelsFull  bool
	// retireErr: the last error of deleting superseded cumulative A/B
	// verdicts, warned about once (cycles only).
	retireErr string
	// autoBaseline: what drift.auto_baseline remembers of the versions it
	// could not freeze yet ("model\x00version"), under mu.
	autoBaseline map[string]autoState
	// held: per reference source, what this process's last cycle that
	// left a backlog recomputed (recompute.go), under mu.
	held map[string]heldBacklog
}

// CycleReport says what one cycle did.
type CycleReport struct {
	Now      time.Time     // the cycle's logical time
	Duration time.Duration // wall time the cycle took
	// Windows counts the windows computed per granularity name and reason
	// (closed, late, final, backfill).
	Windows map[string]map[string]int
	// DirtyBaseWindows are the base windows found touched by rows ingested
	// since the last cycle.
	DirtyBaseWindows int
}

// New returns an Aggregator over conn. log may be nil; reg may be nil (no
// metrics registered).
func New(cfg Config, conn driver.Conn, log *zap.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("aggregate: nil ClickHouse connection")
	}
	if log == nil {
		log = zap.NewNop()
	}
	q, err := renderQueries(cfg.Database)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg, cfg.LabelCap)
	if err != nil {
		return nil, err
	}
	if cfg.AutoBaseline > 0 && cfg.AutoBaseline+cfg.AllowedLateness > cfg.LabelHorizon {
		// Not an error: the default must not refuse a short horizon.
		log.Warn("drift.auto_baseline never applies: its window and windows.allowed_lateness do not fit in windows.label_horizon",
			zap.Duration("auto_baseline", cfg.AutoBaseline), zap.Duration("label_horizon", cfg.LabelHorizon))
	}
	return &Aggregator{cfg: cfg, grans: newGrans(cfg.Granularities), conn: conn, log: log, q: q, m: m,
		labels: map[string]*labelState{}, labelModels: maxLabelModels, autoBaseline: map[string]autoState{}, held: map[string]heldBacklog{},
		pastHorizonEvery: pastHorizonEvery}, nil
}

// requiredTables are the tables (and views) Ready checks for: every one
// a cycle reads or writes, so that /readyz fails, naming it, while one is
// missing (each cycle fails on it meanwhile). routed_outcomes' views are
// among them: without one, routed outcomes would go nowhere, and no cycle
// would fail.
var requiredTables = []string{
	"prediction_logs", "outcomes", "models", "feature_baselines",
	"performance_metrics", "drift_metrics", "ab_results",
	"performance_window_states", "drift_window_states", "feature_bins_1m", "feature_values_1m", "prediction_stats_1m",
	"aggregator_watermarks", "aggregator_windows",
}

// requestIndexTables are the tables of the request index (migrations 0021,
// 0022), which Ready checks for too except on a cluster, where they do
// not exist (RequestScan).
var requestIndexTables = slices.Concat([]string{"prediction_requests", "window_outcomes", "pending_outcomes", "late_outcomes", "routed_outcomes"},
	routingViews)

// routingViews route what outcomes_route inserts into routed_outcomes.
var routingViews = []string{"routed_outcomes_found", "routed_outcomes_pending", "routed_outcomes_late"}

// ErrTablesMissing is Ready's error while a table the aggregator needs is
// missing from its database (renamed or dropped).
var ErrTablesMissing = errors.New("aggregator tables missing")

// Ready reports whether ClickHouse answers and holds every table the
// aggregator reads and writes; its error names those missing.
func (a *Aggregator) Ready(ctx context.Context) error {
	want := requiredTables
	if !a.cfg.RequestScan {
		want = slices.Concat(requiredTables, requestIndexTables)
	}
	return a.checkTables(ctx, want)
}

// checkTables returns ErrTablesMissing, naming them, when any of tables is
// missing from the database.
func (a *Aggregator) checkTables(ctx context.Context, tables []string) error {
	rows, err := a.query(ctx, "ready", clickhouse.Parameters{
		"database": a.cfg.Database,
		"tables":   chStrings(tables),
	})
	if err != nil {
		return err
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("ready: %w", err)
		}
		found[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	var missing []string
	for _, t := range tables {
		if !found[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		// `migrate` does not create again what an applied migration
		// created; `migrate check` names the migration of each.
		return fmt.Errorf("%w from %s: %s (renamed or dropped? cycles cannot go on without it: rename it back, or see `aggregator migrate check`; "+
			"a database never migrated: `aggregator migrate`)", ErrTablesMissing, a.cfg.Database, strings.Join(missing, ", "))
	}
	return nil
}

// failedLogEvery: while cycles keep failing, the error is logged again
// this often, not at every retry (a retry comes every second or so at
// first, and at most schedule.interval apart: an outage of ClickHouse or a
// table renamed away would otherwise write an error line every few
// seconds). The ingester logs a refused table as often (refusedLogEvery).
const failedLogEvery = 5 * time.Minute

// Run runs a cycle every Interval until ctx is done, then returns nil. A
// failed cycle is retried with capped exponential backoff (at most
// Interval apart); the next cycle catches up on everything since the last
// successful one. The first failure is logged as an error, then one every
// failedLogEvery while they go on (the others at debug level:
// predlog_aggregator_cycles_total{result="error"} counts them all), and
// the first success after them says how long they lasted.
func (a *Aggregator) Run(ctx context.Context) error {
	retry := backoff.Policy{Initial: time.Second, Max: a.cfg.Interval}
	failures := 0
	var failingSince, lastLogged time.Time
	for {
		wait := a.cfg.Interval
		rep, err := a.RunOnce(ctx, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait = retry.Delay(failures, nil)
			failures++
			now := time.Now()
			if failures == 1 {
				failingSince = now
			}
			fields := []zap.Field{zap.Error(err), zap.Int("failures", failures), zap.Duration("retry_in", wait)}
			if failures == 1 || now.Sub(lastLogged) >= failedLogEvery {
				lastLogged = now
				msg := "aggregation cycle failed; retrying (logged again every " + failedLogEvery.String() + " while cycles fail)"
				if failures > 1 {
					msg = "aggregation cycles still failing; retrying"
					fields = append(fields, zap.Duration("failing_for", now.Sub(failingSince).Round(time.Second)))
				}
				a.log.Error(msg, fields...)
			} else {
				a.log.Debug("aggregation cycle failed", fields...)
			}
		default:
			if failures > 0 {
				a.log.Info("aggregation cycle succeeded again; it caught up on what the failed ones left",
					zap.Int("failures", failures), zap.Duration("failed_for", time.Since(failingSince).Round(time.Second)))
			}
			failures = 0
			a.log.Debug("aggregation cycle", zap.Duration("took", rep.Duration), zap.Any("windows", rep.Windows),
				zap.Int("dirty_base_windows", rep.DirtyBaseWindows))
			if rep.Duration < wait {
				wait -= rep.Duration
			} else {
				wait = 0
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// closedMarks returns the closed-window watermark of each granularity.
func (a *Aggregator) closedMarks(marks map[string]time.Time) map[string]time.Time {
	closed := make(map[string]time.Time, len(a.grans))
	for _, g := range a.grans {
		closed[g.name] = marks[markClosedPrefix+g.name]
	}
	return closed
}

// RunOnce runs one cycle as of now: computes the windows that closed, that
// late rows touched and that became final, then advances the watermarks.
func (a *Aggregator) RunOnce(ctx context.Context, now time.Time) (CycleReport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := time.Now()
	rep, err := a.cycle(ctx, now.UTC())
	rep.Duration = time.Since(start)
	if err != nil && ctx.Err() != nil {
		// Cut short by a shutdown: not a failure to alert on, nor a
		// cycle's duration.
		return rep, err
	}
	a.m.cycleDuration.Observe(rep.Duration.Seconds())
	if err != nil {
		a.m.cycles.WithLabelValues("error").Inc()
		return rep, err
	}
	a.m.cycles.WithLabelValues("ok").Inc()
	return rep, nil
}

func (a *Aggregator) cycle(ctx context.Context, now time.Time) (CycleReport, error) {
	rep := CycleReport{Now: now, Windows: map[string]map[string]int{}}
	a.ensureInsertViews(ctx)
	marks, err := a.readMarks(ctx)
	if err != nil {
		return rep, err
	}
	a.m.marks.loaded(a.closedMarks(marks), earlier(marks[markIngestPredictions], marks[markIngestOutcomes]))
	base := a.grans[0]
	_, finalB := a.cfg.bounds(base.d, now)
	until := now.Add(-a.cfg.IngestDelay)
	var dirty []time.Time
	newPredictions := map[time.Time]bool{}
	newMarks := map[string]time.Time{}
	params := func(since time.Time) clickhouse.Parameters {
		return clickhouse.Parameters{
			"base_seconds": fmt.Sprint(base.secs),
			"since":        chTime64(since),
			"until":        chTime64(until),
			"not_before":   chTime64(finalB),
		}
	}
	routedAt := time.Now().UTC().Truncate(time.Millisecond)
	// Counts of what this cycle read since the watermarks, applied once
	// they are stored: a cycle that fails before leaves them where they
	// were, and the next one reads and would count the same rows again.
	var onStored []func()
	outcomes, extra := a.outcomesQuery(marks, newMarks, until, finalB, routedAt)
	// Model records and baselines are rare: their dirty queries read the
	// horizon's states only when one arrived (gate), and dirty at most
	// RecomputePerCycle a cycle (recompute.go).
	for _, src := range []dirtySource{
		{mark: markIngestPredictions, query: "dirty_predictions"},
		{mark: markIngestOutcomes, query: outcomes},
		{name: "models", mark: markIngestModels, query: "dirty_models", gate: "models_ingested"},
		{name: "baselines", mark: markIngestBaselines, query: "dirty_baselines", gate: "baselines_ingested"},
	} {
		since, ok := marks[src.mark]
		if !ok || !until.After(since) {
			// First cycle: everything not final is computed on closing.
			newMarks[src.mark] = later(since, until)
			continue
		}
		p := params(since)
		if src.query == outcomes {
			maps.Copy(p, extra)
			routed, err := a.routeOutcomes(ctx, p, routedAt)
			if err != nil {
				return rep, err
			}
			onStored = append(onStored, func() { routed.addTo(a.m) })
			a.checkLabels(ctx, p)
		}
		if src.gate != "" {
			ws, err := a.referenceDirty(ctx, src, marks, newMarks, p, until)
			if err != nil {
				return rep, err
			}
			dirty = append(dirty, ws...)
			continue
		}
		ws, err := a.queryTimes(ctx, src.query, p)
		if err != nil {
			return rep, err
		}
		dirty = append(dirty, ws...)
		if src.mark == markIngestPredictions {
			for _, w := range ws {
				newPredictions[w] = true
			}
			if err := a.indexRequests(ctx, p, routedAt); err != nil {
				return rep, err
			}
		}
		newMarks[src.mark] = until
	}
	slices.SortFunc(dirty, time.Time.Compare)
	dirty = slices.Compact(dirty)
	rep.DirtyBaseWindows = len(dirty)
	onStored = append(onStored, a.countPastHorizon(ctx, marks, newMarks, until, finalB))

	p := a.cfg.plan(marks, now, dirty)
	if err := a.markLabelsOnly(ctx, p.windows[0], newPredictions); err != nil {
		return rep, err
	}
	if err := a.compute(ctx, p.windows, a.routedFrom(newMarks), rep.Windows); err != nil {
		return rep, err
	}
	for k, v := range p.marks {
		newMarks[k] = v
	}
	if err := a.writeMarks(ctx, newMarks); err != nil {
		return rep, err
	}
	for _, f := range onStored {
		f()
	}
	a.m.marks.set(a.closedMarks(newMarks), until)
	// Neither step is worth a warning when ctx ended (a shutdown during
	// the cycle): the windows and watermarks are stored, and the next
	// start does both again.
	if err := a.autoBaselines(ctx, now, marks); err != nil && ctx.Err() == nil {
		// Tried again next cycle; the windows are stored.
		a.log.Warn("automatic baseline", zap.Error(err))
	}
	if err := a.refreshGauges(ctx, now); err != nil && ctx.Err() == nil {
		// Gauges are best effort; the cycle's results are stored.
		a.log.Warn("refresh model gauges", zap.Error(err))
	}
	return rep, nil
}

// Backfill computes every closed window of every granularity that overlaps
// [from, to), marking final those older than the label horizon, with every
// base window they hold (so that a coarser window reaching beyond the range
// is complete even where no state was stored before). Windows that have not
// closed yet (end + allowed lateness after now) are left to the schedule,
// which computes them on closing. It
// leaves the watermarks alone, so it can run beside the schedule (its rows
// simply replace older ones), e.g. to repair a range or to compute history
// from before the first cycle.
func (a *Aggregator) Backfill(ctx context.Context, from, to time.Time) (BackfillReport, error) {
	if !to.After(from) {
		return BackfillReport{}, fmt.Errorf("backfill: empty range [%v, %v)", from, to)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ensureInsertViews(ctx)
	now := time.Now().UTC()
	if err := a.indexRange(ctx, from, to, now); err != nil {
		return BackfillReport{}, err
	}
	rep := BackfillReport{Windows: map[string]int{}}
	var wins [][]window
	var err error
	spans, open := a.backfillSpans(from, to, now)
	rep.NotClosed = open
	var full []time.Time
	if b := spans[0]; b.n > 0 {
		full, err = a.queryTimes(ctx, "backfill_windows", clickhouse.Parameters{
			"base_seconds": fmt.Sprint(a.grans[0].secs),
			"from":         chTime64(b.first),
			"to":           chTime64(b.end(a.grans[0].d)),
		})
		if err != nil {
			return rep, err
		}
	}
	wins, rep.Empty = a.backfillKeep(spans, full, now)
	pairs0 := a.m.driftPairCounts()
	counts := map[string]map[string]int{}
	a.progress = newProgress(a.log, wins)
	defer func() { a.progress = nil }()
	// Every window joins outcomes itself: a backfill also repairs what the
	// cycles' copies may lack (predictions that became visible late).
	err = a.compute(ctx, wins, time.Time{}, counts)
	for g, byReason := range counts {
		for _, n := range byReason {
			rep.Windows[g] += n
		}
	}
	rep.DriftPairs = a.m.driftPairCounts()
	for k, n := range pairs0 {
		rep.DriftPairs[k] -= n
	}
	return rep, err
}

// BackfillReport says what a backfill computed: windows per granularity,
// and drift states per (base window, model version) by "states/source"
// (numeric or categorical; counted at insert time or raw).
type BackfillReport struct {
	Windows    map[string]int
	DriftPairs map[string]int
	// Empty counts the windows left out for holding no predictions,
	// NotClosed the base windows of the range that have not closed yet
	// (the schedule computes them).
	Empty, NotClosed int
}

// markLabelsOnly marks the base windows recomputed for late outcomes
// alone, whose drift states stand unless drift_stale finds them out of date
// with the baselines (or missing).
func (a *Aggregator) markLabelsOnly(ctx context.Context, wins []window, newPredictions map[time.Time]bool) error {
	var cand []time.Time
	for i, w := range wins {
		wins[i].labelsOnly = w.reason == reasonLate && !newPredictions[w.start]
		if wins[i].labelsOnly {
			cand = append(cand, w.start)
		}
	}
	stale := map[time.Time]bool{}
	for _, sp := range spans(cand, a.grans[0].d, maxGap, a.cfg.MaxSpan, maxList, 0) {
		ws, err := a.queryTimes(ctx, "drift_stale", clickhouse.Parameters{
			"base_seconds": fmt.Sprint(a.grans[0].secs),
			"from":         chTime(sp.from),
			"to":           chTime(sp.to),
			"windows":      chTimes(sp.starts),
		})
		if err != nil {
			return err
		}
		for _, w := range ws {
			stale[w] = true
		}
	}
	for i, w := range wins {
		wins[i].labelsOnly = w.labelsOnly && !stale[w.start]
	}
	return nil
}

// ensureInsertViews creates feature_bins_1m_mv and feature_values_1m_mv
// once, when drift.insert_time_bins is set (the caller holds mu). Only
// predictions inserted after they exist are counted; older windows are
// counted raw. A failure (say, no CREATE VIEW grant) is logged and tried
// again next cycle: the views only save work, so cycles go on without
// them.
func (a *Aggregator) ensureInsertViews(ctx context.Context) {
	if !a.cfg.InsertTimeBins {
		if !a.viewsChecked {
			a.viewsChecked = a.warnInsertViews(ctx)
		}
		return
	}
	if a.insertViews {
		return
	}
	existing, err := a.existingInsertViews(ctx)
	if err != nil {
		// Warned about once per error, not at every retry: ClickHouse
		// unreachable fails every cycle, and Run says so already.
		if err.Error() != a.viewsErr && ctx.Err() == nil {
			a.viewsErr = err.Error()
			a.log.Warn("drift.insert_time_bins: cannot list the views that count at insert time; trying again next cycle", zap.Error(err))
		}
		return
	}
	a.viewsErr = ""
	for _, v := range insertViews {
		comment, ok := existing[v.view]
		if ok && !strings.Contains(comment, viewDefinition) {
			// An older release's definition (CREATE … IF NOT EXISTS keeps it).
			a.log.Info("replacing a view created by an older release", zap.String("view", v.view))
			if err := a.exec(ctx, v.query+"_drop", nil); err != nil {
				a.log.Warn("drift.insert_time_bins: cannot replace an older view; its counts are used where they are complete",
					zap.String("view", v.view), zap.Error(err))
				return
			}
		}
		if err := a.exec(ctx, v.query, nil); err != nil {
			a.log.Warn("drift.insert_time_bins: cannot create the views that count at insert time; drift is counted from the raw rows",
				zap.String("view", v.view), zap.Error(err))
			return
		}
	}
	a.insertViews = true
}

// insertViews are the views drift.insert_time_bins creates, by the query
// that creates each. viewDefinition is in the comment of each as created
// by this release (clickhouse/queries/feature_bins_view.sql).
var insertViews = []struct{ query, view string }{
	{"feature_bins_view", "feature_bins_1m_mv"},
	{"feature_values_view", "feature_values_1m_mv"},
}

const viewDefinition = "(definition 3)"

// existingInsertViews returns which of insertViews exist, with their
// comments.
func (a *Aggregator) existingInsertViews(ctx context.Context) (map[string]string, error) {
	rows, err := a.query(ctx, "insert_views", clickhouse.Parameters{"database": a.cfg.Database})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			return nil, fmt.Errorf("insert_views: %w", err)
		}
		out[name] = comment
	}
	return out, rows.Err()
}

// warnInsertViews warns when the views drift.insert_time_bins creates exist
// with the setting off: turning it off does not drop them, so every insert
// still pays for them (cycles keep using their counts where complete,
// which changes no result). It returns whether it could check (else the
// next cycle tries again).
func (a *Aggregator) warnInsertViews(ctx context.Context) bool {
	existing, err := a.existingInsertViews(ctx)
	if err != nil {
		a.log.Debug("cannot check for the insert-time views; trying again next cycle", zap.Error(err))
		return false
	}
	views := slices.Sorted(maps.Keys(existing))
	if len(views) > 0 {
		a.log.Warn("drift.insert_time_bins is off but its views exist: every insert into prediction_logs still pays for them; DROP VIEW them to stop",
			zap.Strings("views", views))
	}
	// Views created by hand (on a cluster) are not replaced when their
	// definition changes; an older one's counts stop matching and drift
	// falls back to the raw rows, silently but for this.
	for _, v := range views {
		if !strings.Contains(existing[v], viewDefinition) {
			a.log.Warn("an insert-time view is of an older definition: its counts are used only where they still match, drift is counted from the raw rows elsewhere; drop it and create it again (ON CLUSTER) from clickhouse/queries/",
				zap.String("view", v), zap.String("want", viewDefinition))
		}
	}
	return true
}

// startSpan is the windows of one granularity starting at first, first +
// size, ..., n of them.
type startSpan struct {
	first time.Time
	n     int64
}

func (s startSpan) end(size time.Duration) time.Time { return s.first.Add(time.Duration(s.n) * size) }

// backfillSpans returns, per granularity, the closed windows that overlap
// [from, to) as of now, and as base windows every one they hold; and how
// many base windows of [from, to) have not closed. Spans, not lists: a
// range typed a century wide costs nothing until backfillKeep keeps the
// windows with predictions.
func (a *Aggregator) backfillSpans(from, to, now time.Time) ([]startSpan, int) {
	base := a.grans[0]
	closedB, _ := a.cfg.bounds(base.d, now)
	open := 0
	firstOpen := floorTo(closedB.Add(-base.d), base.d).Add(base.d) // closed: start + size <= closedB
	if s := later(floorTo(from, base.d), firstOpen); s.Before(to) {
		// Rounded up without adding to the difference: a --to beyond
		// time.Duration's 292 years saturates it, and adding to that
		// wrapped into a negative count.
		d := to.Sub(s)
		n := d / base.d
		if d%base.d != 0 {
			n++
		}
		open = int(min(int64(n), math.MaxInt32))
	}
	// Windows are epoch-aligned and predictions later than 2000; a range
	// beyond now closes nothing more.
	from, to = later(from, time.Unix(0, 0).UTC()), earlier(to, now)
	spans := make([]startSpan, len(a.grans))
	baseFrom, baseTo := from, to
	for i := 1; i < len(a.grans); i++ {
		g := a.grans[i]
		spans[i] = a.closedSpan(g.d, from, to, now)
		if sp := spans[i]; sp.n > 0 {
			baseFrom, baseTo = earlier(baseFrom, sp.first), later(baseTo, sp.end(g.d))
		}
	}
	spans[0] = a.closedSpan(base.d, baseFrom, baseTo, now)
	return spans, open
}

// closedSpan is the windows of size d that overlap [from, to) and have
// closed as of now.
func (a *Aggregator) closedSpan(d time.Duration, from, to, now time.Time) startSpan {
	closedB, _ := a.cfg.bounds(d, now)
	first := floorTo(from, d)
	if !to.After(first) || !closedB.After(first) {
		return startSpan{first: first}
	}
	// Starts before to, ends by closedB.
	n := min((to.Sub(first)+d-1)/d, closedB.Sub(first)/d)
	return startSpan{first: first, n: int64(n)}
}

// backfillKeep returns the windows of spans that hold predictions, given
// the base windows that do (full, sorted), and how many it left out.
func (a *Aggregator) backfillKeep(spans []startSpan, full []time.Time, now time.Time) ([][]window, int) {
	wins := make([][]window, len(a.grans))
	var empty int64
	for i, g := range a.grans {
		_, finalB := a.cfg.bounds(g.d, now)
		sp := spans[i]
		for _, s := range full {
			w := floorTo(s, g.d)
			if w.Before(sp.first) || !w.Before(sp.end(g.d)) {
				continue
			}
			if n := len(wins[i]); n > 0 && wins[i][n-1].start.Equal(w) {
				continue
			}
			wins[i] = append(wins[i], window{start: w, reason: reasonBackfill, final: !w.Add(g.d).After(finalB)})
		}
		empty += sp.n - int64(len(wins[i]))
	}
	return wins, int(min(empty, math.MaxInt32))
}

// compute computes the base-window states of wins[0] (reading the
// outcomes of windows from routedFrom on from window_outcomes, unless it is
// zero), then the output rows of every granularity, counting windows into
// counts.
func (a *Aggregator) compute(ctx context.Context, wins [][]window, routedFrom time.Time, counts map[string]map[string]int) error {
	if err := a.computeStates(ctx, wins[0], routedFrom); err != nil {
		return err
	}
	for i, g := range a.grans {
		if len(wins[i]) == 0 {
			continue
		}
		if err := a.computeOutputs(ctx, g, wins[i]); err != nil {
			return err
		}
		c := map[string]int{}
		for _, w := range wins[i] {
			c[w.reason]++
			a.m.windows.WithLabelValues(g.name, w.reason).Inc()
		}
		counts[g.name] = c
	}
	if len(wins[0]) > 0 {
		from, to := wins[0][0].start, wins[0][0].start
		for _, w := range wins[0] {
			from, to = earlier(from, w.start), later(to, w.start)
		}
		if err := a.abCumulative(ctx, from, to.Add(a.grans[0].d)); err != nil {
			return err
		}
	}
	return nil
}

// Query grouping: base windows closer than maxGap share a query, at most
// maxList explicit windows per query; runs of minRange consecutive base
// windows are read as a range.
const (
	maxGap   = time.Hour
	maxList  = 500
	minRange = 10
)

// computeStates recomputes the performance states of base windows, and
// their drift states unless only labels arrived for them. Spans starting at
// or after a non-zero routedFrom read their outcomes from window_outcomes.
func (a *Aggregator) computeStates(ctx context.Context, wins []window, routedFrom time.Time) error {
	base := a.grans[0]
	labelsOnly := map[time.Time]bool{}
	for _, w := range wins {
		if w.labelsOnly {
			labelsOnly[w.start] = true
		}
	}
	for _, sp := range spans(starts(wins), base.d, maxGap, a.cfg.MaxSpan, maxList, minRange) {
		name := "perf_states"
		switch {
		case !routedFrom.IsZero() && !sp.from.Before(routedFrom):
			name = "perf_states_routed"
		case !sp.all:
			name = "perf_states_prune"
		}
		if len(a.cfg.SliceKeys) > 0 {
			name += "_sliced"
		}
		params := a.statesParams(sp)
		tdigest, err := a.tdigestNeeded(ctx, sp)
		if err != nil {
			return err
		}
		params["tdigest"] = strconv.FormatBool(tdigest)
		perf := func(ctx context.Context) error { return a.exec(ctx, name, params) }
		drift := func(context.Context) error { return nil }
		if d := sp.keep(func(s time.Time) bool { return !labelsOnly[s] }); len(d.starts) > 0 {
			drift = func(ctx context.Context) error { return a.driftStates(ctx, d, a.statesParams(d)) }
		}
		if err := a.sideBySide(ctx, perf, drift); err != nil {
			return err
		}
		a.progress.add("states", len(sp.starts))
	}
	return nil
}

// sideBySide runs a span's performance and drift states at once: they read
// and write other tables, and one after the other the drift states' short
// statements left part of the engine's two cores idle (BenchmarkHour: 6 %
// less wall time per engine CPU-second side by side, benchmarks/README.md).
// Their memory adds up, so when the engine refuses that (its memory limit),
// they run again one after the other (both write idempotently).
func (a *Aggregator) sideBySide(ctx context.Context, perf, drift func(context.Context) error) error {
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return perf(gctx) })
	grp.Go(func() error { return drift(gctx) })
	err := grp.Wait()
	var ex *clickhouse.Exception
	if err == nil || ctx.Err() != nil || !errors.As(err, &ex) || ex.Code != memoryLimitExceeded {
		return err
	}
	a.log.Warn("the performance and drift states exceeded the engine's memory limit side by side; running them one after the other", zap.Error(err))
	if err := perf(ctx); err != nil {
		return err
	}
	return drift(ctx)
}

// memoryLimitExceeded is ClickHouse's MEMORY_LIMIT_EXCEEDED.
const memoryLimitExceeded = 241

// tdigestNeeded reports whether the performance states of sp must fill
// their t-digests: a state without sketches is in reach of a rollup of
// their windows (tdigest_needed).
func (a *Aggregator) tdigestNeeded(ctx context.Context, sp span) (bool, error) {
	coarsest := a.grans[len(a.grans)-1].d
	from := floorTo(sp.from, coarsest)
	to := floorTo(sp.to.Add(coarsest-time.Nanosecond), coarsest)
	n, err := a.queryCount(ctx, "tdigest_needed", clickhouse.Parameters{"from": chTime(from), "to": chTime(to)})
	return n > 0, err
}

// statesParams are the parameters of the states queries of sp.
func (a *Aggregator) statesParams(sp span) clickhouse.Parameters {
	p := clickhouse.Parameters{
		"base_seconds":    fmt.Sprint(a.grans[0].secs),
		"from":            chTime64(sp.from),
		"to":              chTime64(sp.to),
		"windows":         "[]",
		"horizon_seconds": a.horizonSeconds(),
		"slice_keys":      chStrings(a.cfg.SliceKeys),
		"top_n":           fmt.Sprint(max(10*a.cfg.TopN, 100)),
	}
	if !sp.all {
		p["windows"] = chTimes(sp.starts)
	}
	return p
}

// computeOutputs writes the output rows of windows of granularity g and
// records the windows.
func (a *Aggregator) computeOutputs(ctx context.Context, g gran, wins []window) error {
	base := a.grans[0]
	// Final windows first: they are the older ones, and drift_gone carries
	// a window's missing features from the rows of the window before it.
	for _, final := range []bool{true, false} {
		var sel []time.Time
		for _, w := range wins {
			if w.final == final {
				sel = append(sel, w.start)
			}
		}
		for _, sp := range spans(sel, g.d, 1<<62, 1<<62, maxList, 0) {
			params := clickhouse.Parameters{
				"base_seconds": fmt.Sprint(base.secs),
				"g_seconds":    fmt.Sprint(g.secs),
				"granularity":  g.name,
				"from":         chTime(sp.from),
				"to":           chTime(sp.to),
				"windows":      chTimes(sp.starts),
				"top_n":        fmt.Sprint(a.cfg.TopN),
				"final":        fmt.Sprint(final),
			}
			// Drift outputs beside the rest: their statistics are the
			// aggregator's own CPU, which would otherwise leave the engine
			// idle.
			grp, gctx := errgroup.WithContext(ctx)
			grp.Go(func() error { return a.driftOutputs(gctx, g, sp, final) })
			grp.Go(func() error {
				if err := a.exec(gctx, "perf_rollup", params); err != nil {
					return err
				}
				retire := clickhouse.Parameters{"granularity": g.name, "windows": params["windows"], "final": params["final"]}
				if err := a.exec(gctx, "perf_retire", retire); err != nil {
					return err
				}
				return a.abOutputs(gctx, g, sp, final)
			})
			if err := grp.Wait(); err != nil {
				return err
			}
			a.progress.add(g.name, len(sp.starts))
		}
	}
	for _, sp := range spans(starts(wins), g.d, 1<<62, 1<<62, maxList, 0) {
		var reasons []string
		var finals []bool
		for _, w := range wins {
			if !w.start.Before(sp.from) && w.start.Before(sp.to) {
				reasons = append(reasons, w.reason)
				finals = append(finals, w.final)
			}
		}
		err := a.exec(ctx, "windows_record", clickhouse.Parameters{
			"granularity":  g.name,
			"g_seconds":    fmt.Sprint(g.secs),
			"base_seconds": fmt.Sprint(base.secs),
			"starts":       chTimes(sp.starts),
			"reasons":      chStrings(reasons),
			"finals":       chBools(finals),
			"from":         chTime(sp.from),
			"to":           chTime(sp.to),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func starts(wins []window) []time.Time {
	out := make([]time.Time, len(wins))
	for i, w := range wins {
		out[i] = w.start
	}
	return out
}

// queryCount runs query name, whose one row is one count (0 without a row).
func (a *Aggregator) queryCount(ctx context.Context, name string, params clickhouse.Parameters) (uint64, error) {
	rows, err := a.query(ctx, name, params)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// queryTimes runs query name, whose rows are one time each (in UTC).
func (a *Aggregator) queryTimes(ctx context.Context, name string, params clickhouse.Parameters) ([]time.Time, error) {
	rows, err := a.query(ctx, name, params)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, t.UTC())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func (a *Aggregator) readMarks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := a.query(ctx, "watermarks_read", nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	marks := map[string]time.Time{}
	for rows.Next() {
		var name string
		var v time.Time
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("watermarks_read: %w", err)
		}
		marks[name] = v.UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("watermarks_read: %w", err)
	}
	return marks, nil
}

func (a *Aggregator) writeMarks(ctx context.Context, marks map[string]time.Time) error {
	names := make([]string, 0, len(marks))
	for k := range marks {
		names = append(names, k)
	}
	slices.Sort(names)
	vals := make([]time.Time, len(names))
	for i, k := range names {
		vals[i] = marks[k]
	}
	return a.exec(ctx, "watermarks_write", clickhouse.Parameters{
		"names":  chStrings(names),
		"values": chTimes64(vals),
	})
}

// exec runs statement name with params bound, timing it.
func (a *Aggregator) exec(ctx context.Context, name string, params clickhouse.Parameters) error {
	start := time.Now()
	err := a.conn.Exec(clickhouse.Context(ctx, clickhouse.WithParameters(params)), a.q[name])
	a.m.queryDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		a.countError(ctx, name)
		return fmt.Errorf("%s: %w", name, chquery.ShortURLError(err))
	}
	return nil
}

// countError counts a failed statement in query_errors_total, unless ctx
// ended: the statement was canceled, by a shutdown or because another
// statement running beside it failed (computeOutputs' errgroup), and
// counting it would point the operator at a query that did nothing wrong.
func (a *Aggregator) countError(ctx context.Context, name string) {
	if ctx.Err() == nil {
		a.m.queryErrors.WithLabelValues(name).Inc()
	}
}

// query runs query name with params bound; the caller closes the rows.
func (a *Aggregator) query(ctx context.Context, name string, params clickhouse.Parameters) (driver.Rows, error) {
	start := time.Now()
	rows, err := a.conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), a.q[name])
	a.m.queryDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		a.countError(ctx, name)
		return nil, fmt.Errorf("%s: %w", name, chquery.ShortURLError(err))
	}
	return rows, nil
}

// Parameter values in ClickHouse's text format.

func chTime(t time.Time) string   { return t.UTC().Format("2006-01-02 15:04:05") }
func chTime64(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

func chTimes(ts []time.Time) string   { return chArray(ts, chTime) }
func chTimes64(ts []time.Time) string { return chArray(ts, chTime64) }

func chStrings(ss []string) string { return chArray(ss, func(s string) string { return s }) }

func chBools(bs []bool) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprint(b)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

var quoteReplacer = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// chArray renders a list as an array literal of quoted strings.
func chArray[T any](vs []T, str func(T) string) string {
	return chList(vs, func(b *strings.Builder, v T) { chQuote(b, str(v)) })
}

// chList renders a list as an array literal, each element written by elem.
func chList[T any](vs []T, elem func(*strings.Builder, T)) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		elem(&b, v)
	}
	b.WriteByte(']')
	return b.String()
}

// chQuote writes s as a quoted string literal.
func chQuote(b *strings.Builder, s string) {
	b.WriteByte('\'')
	quoteReplacer.WriteString(b, s)
	b.WriteByte('\'')
}
