package aggregate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/predlog/predlog/pkg/events"
)

// TestReadyNamesMissingTables: Ready fails, naming the table, while any
// table a cycle reads or writes is renamed away, and passes again once it
// is back. The request index's tables (and routed_outcomes' views, whose
// loss fails no cycle: routed outcomes would simply vanish) count only off
// a cluster, where they exist.
func TestReadyNamesMissingTables(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		table       string
		requestScan bool // a cluster's config: no request index
		wantMissing bool
	}{
		{table: "performance_metrics", wantMissing: true},
		{table: "aggregator_watermarks", wantMissing: true},
		{table: "window_outcomes", wantMissing: true},
		{table: "prediction_requests", wantMissing: true},
		{table: "pending_outcomes", wantMissing: true},
		{table: "routed_outcomes_found", wantMissing: true},
		{table: "late_outcomes", wantMissing: true},
		{table: "routed_outcomes_late", wantMissing: true},
		{table: "feature_values_1m", wantMissing: true},
		{table: "prediction_stats_1m", wantMissing: true},
		{table: "window_outcomes", requestScan: true, wantMissing: false},
	} {
		t.Run(tt.table, func(t *testing.T) {
			cfg := e.config()
			cfg.RequestScan = tt.requestScan
			a := e.aggregator(cfg)
			if err := a.Ready(ctx); err != nil {
				t.Fatalf("before the rename: %v", err)
			}
			e.st.Exec(t, e.db, "RENAME TABLE "+tt.table+" TO "+tt.table+"_away")
			err := a.Ready(ctx)
			e.st.Exec(t, e.db, "RENAME TABLE "+tt.table+"_away TO "+tt.table)
			switch {
			case !tt.wantMissing && err != nil:
				t.Errorf("Ready = %v, want nil", err)
			case tt.wantMissing && !errors.Is(err, ErrTablesMissing):
				t.Errorf("Ready = %v, want ErrTablesMissing", err)
			case tt.wantMissing && !strings.Contains(err.Error(), ": "+tt.table+" ("):
				t.Errorf("Ready = %v, want it to name %s", err, tt.table)
			}
			if err := a.Ready(ctx); err != nil {
				t.Errorf("after renaming it back: %v", err)
			}
		})
	}
}

// TestRunLogsFailuresOnce: while every cycle fails (a table renamed away),
// Run logs the first failure as an error and the retries (a second or so
// apart) at debug level only, and the first success after them at info,
// with how many failed.
func TestRunLogsFailuresOnce(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Interval = 50 * time.Millisecond
	core, logs := observer.New(zap.DebugLevel)
	a, err := New(cfg, e.st.Conn(t, e.db), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.st.Exec(t, e.db, "RENAME TABLE aggregator_watermarks TO aggregator_watermarks_away")
	renamed := true
	defer func() {
		if renamed {
			e.st.Exec(t, e.db, "RENAME TABLE aggregator_watermarks_away TO aggregator_watermarks")
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("three failed cycles", func() bool { return testutil.ToFloat64(a.m.cycles.WithLabelValues("error")) >= 3 })
	e.st.Exec(t, e.db, "RENAME TABLE aggregator_watermarks_away TO aggregator_watermarks")
	renamed = false
	waitFor("successful cycle", func() bool { return testutil.ToFloat64(a.m.cycles.WithLabelValues("ok")) >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}

	errs := logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(errs) != 1 {
		t.Errorf("%d errors logged for %v failed cycles, want 1:", len(errs), testutil.ToFloat64(a.m.cycles.WithLabelValues("error")))
		for _, l := range errs {
			t.Logf("  %s %v", l.Message, l.ContextMap())
		}
	} else if !strings.Contains(errs[0].ContextMap()["error"].(string), "aggregator_watermarks") {
		t.Errorf("error logged: %v, want it to name the table", errs[0].ContextMap())
	}
	resumed := logs.FilterMessageSnippet("succeeded again").FilterLevelExact(zap.InfoLevel).All()
	if len(resumed) != 1 {
		t.Fatalf("%d logs of the cycles succeeding again, want 1", len(resumed))
	}
	if n, _ := resumed[0].ContextMap()["failures"].(int64); n < 3 {
		t.Errorf("resumed after %d failures, want at least 3", n)
	}
}

// cancelAfterConn cancels a context once a statement holding after has
// run: a shutdown arriving at that point of a cycle.
type cancelAfterConn struct {
	driver.Conn
	after  string
	cancel context.CancelFunc
}

func (c *cancelAfterConn) Exec(ctx context.Context, query string, args ...any) error {
	err := c.Conn.Exec(ctx, query, args...)
	if err == nil && strings.Contains(query, c.after) {
		c.cancel()
	}
	return err
}

// TestShutdownAfterMarksWarnsNothing: a shutdown that comes once a cycle
// has written its watermarks (during the automatic baselines or the
// gauges' refresh) ends the cycle without a warning: nothing is wrong,
// and the next start does both again.
func TestShutdownAfterMarksWarnsNothing(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zap.WarnLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := &cancelAfterConn{Conn: e.st.Conn(t, e.db), after: "INSERT INTO " + e.db + ".aggregator_watermarks", cancel: cancel}
	a, err := New(e.config(), conn, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunOnce(ctx, time.Now()); err != nil {
		t.Fatalf("RunOnce = %v, want nil: the cycle's windows and watermarks are stored", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the watermarks were not written")
	}
	for _, l := range logs.All() {
		t.Errorf("logged %s %q %v", l.Level, l.Message, l.ContextMap())
	}
}

// TestShutdownMidCycleIsNoFailure: a cycle cut short by a shutdown (its
// context canceled after the performance states were written) returns its
// error but counts as neither an ok nor a failed cycle: the alert on
// failed cycles must not fire at every rollout.
func TestShutdownMidCycleIsNoFailure(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	e.insertPredictions(genDataset(3, floorTo(now.Add(-3*time.Hour), time.Hour), now).preds[:200])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := &cancelAfterConn{Conn: e.st.Conn(t, e.db), after: "INSERT INTO " + e.db + ".performance_window_states", cancel: cancel}
	a, err := New(e.config(), conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunOnce(ctx, now); err == nil || ctx.Err() == nil {
		t.Fatalf("RunOnce = %v with ctx %v, want the cycle cut short after the performance states", err, ctx.Err())
	}
	for _, result := range []string{"ok", "error"} {
		if n := testutil.ToFloat64(a.m.cycles.WithLabelValues(result)); n != 0 {
			t.Errorf("cycles_total{result=%q} = %v after a shutdown mid-cycle, want 0", result, n)
		}
	}
}

// slowDriftConn holds the drift reads until their context ends (or a
// while), so that they are still running when a statement beside them
// fails.
type slowDriftConn struct{ driver.Conn }

func (c *slowDriftConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	if strings.HasPrefix(query, "-- drift_") {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	return c.Conn.Query(ctx, query, args...)
}

// TestQueryErrorsCountFailuresOnly: when perf_rollup fails (its table
// renamed away), the drift reads running beside it are canceled, and
// predlog_aggregator_query_errors_total counts perf_rollup alone: the
// metric names the statement to look at, not the ones it took down.
func TestQueryErrorsCountFailuresOnly(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	e.insertPredictions(genDataset(3, floorTo(now.Add(-3*time.Hour), time.Hour), now).preds[:200])
	a, err := New(e.config(), &slowDriftConn{e.st.Conn(t, e.db)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.st.Exec(t, e.db, "RENAME TABLE performance_metrics TO performance_metrics_away")
	defer e.st.Exec(t, e.db, "RENAME TABLE performance_metrics_away TO performance_metrics")
	if _, err := a.Backfill(context.Background(), now.Add(-4*time.Hour), now.Add(-time.Hour)); err == nil || !strings.Contains(err.Error(), "perf_rollup") {
		t.Fatalf("Backfill = %v, want perf_rollup's error", err)
	}
	failed := map[string]float64{}
	for _, name := range []string{"perf_rollup", "drift_read", "drift_read_base", "drift_totals"} {
		if n := testutil.ToFloat64(a.m.queryErrors.WithLabelValues(name)); n > 0 {
			failed[name] = n
		}
	}
	if len(failed) != 1 || failed["perf_rollup"] != 1 {
		t.Errorf("query_errors_total %v, want perf_rollup 1 alone", failed)
	}
}

// failQueryConn fails the queries whose text starts with prefix, as
// ClickHouse unreachable would.
type failQueryConn struct {
	driver.Conn
	prefix string
}

func (c *failQueryConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	if strings.HasPrefix(query, c.prefix) {
		return nil, errors.New("dial tcp 127.0.0.1:8123: connect: connection refused")
	}
	return c.Conn.Query(ctx, query, args...)
}

// TestInsertViewsListWarnsOnce: with drift.insert_time_bins, a cycle that
// cannot list the insert-time views warns once for the same error, not at
// every retry (during an outage, a retry comes every few seconds).
func TestInsertViewsListWarnsOnce(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.InsertTimeBins = true
	core, logs := observer.New(zap.WarnLevel)
	a, err := New(cfg, &failQueryConn{Conn: e.st.Conn(t, e.db), prefix: "-- insert_views"}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.RunOnce(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.FilterMessageSnippet("cannot list the views").Len(); n != 1 {
		t.Errorf("%d warnings for 3 cycles that could not list the views, want 1", n)
	}
}

// TestRoutingWithoutItsViews: a cycle does not route outcomes while a
// view of routed_outcomes is missing (the insert into that Null table
// would succeed and the outcomes vanish); it fails, naming the view, and
// the first cycle after the view is back routes them to their window.
func TestRoutingWithoutItsViews(t *testing.T) {
	e, a := newRoutingEnv(t)
	w := routingWindow()
	e.insertR1Prediction(w)
	cycle(t, a) // indexes it

	restore := e.dropRoutedFound()
	e.insertR1Outcome()
	time.Sleep(10 * time.Millisecond)
	_, err := a.RunOnce(context.Background(), time.Now().UTC())
	if !errors.Is(err, ErrTablesMissing) || !strings.Contains(err.Error(), "routed_outcomes_found") {
		t.Errorf("cycle without routed_outcomes_found = %v, want ErrTablesMissing naming it", err)
	}
	restore()
	cycle(t, a)
	e.wantR1Routed()
}

// newRoutingEnv returns an env with binary model m v1, the request index
// started a month back, and an aggregator that has run a cycle (the ingest
// watermarks set).
func newRoutingEnv(t *testing.T) (*env, *Aggregator) {
	e := newEnv(t)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	e.indexedSince(time.Now().UTC().Add(-30 * 24 * time.Hour))
	a := e.aggregator(e.config())
	cycle(t, a)
	return e, a
}

// routingWindow is a window start two hours back: not final with the
// env's label horizon of 6h.
func routingWindow() time.Time {
	return floorTo(time.Now().UTC().Add(-2*time.Hour), time.Hour).Add(10 * time.Minute)
}

// insertR1Prediction and insertR1Outcome insert request r1's prediction
// at w and its outcome now, both ingested now.
func (e *env) insertR1Prediction(w time.Time) {
	e.insertPredictions([]events.PredictionLog{{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: ms(w), Score: 0.9, HasScore: true,
		LatencyMs: 10, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}}})
}

func (e *env) insertR1Outcome() {
	e.insertOutcomes([]events.Outcome{{RequestID: "r1", ModelID: "m", EventTime: ms(time.Now()), Label: "1", HasLabel: true,
		Provenance: events.Provenance{IngestTime: ms(time.Now())}}})
}

// dropRoutedFound drops the view routed_outcomes_found (dropped, not
// renamed: a renamed view still fires) and returns what creates it again.
func (e *env) dropRoutedFound() (restore func()) {
	ddl := e.st.Exec(e.t, e.db, "SHOW CREATE TABLE routed_outcomes_found FORMAT TSVRaw")
	e.st.Exec(e.t, e.db, "DROP VIEW routed_outcomes_found SYNC")
	return func() { e.st.Exec(e.t, e.db, ddl) }
}

// wantR1Routed checks that r1's outcome reached window_outcomes once.
func (e *env) wantR1Routed() {
	e.t.Helper()
	if n := num(e.t, e.rows(`SELECT count() AS n FROM window_outcomes WHERE request_id = 'r1'`)[0], "n"); n != 1 {
		e.t.Errorf("window_outcomes holds %v rows of r1's outcome after the view came back, want 1", n)
	}
}

// TestBackfillWithoutRoutingViews: backfill resolves the pending outcomes
// of the predictions it indexes through routed_outcomes too; with a view
// missing it fails, naming it, rather than losing them (no later step of
// a backfill would notice).
func TestBackfillWithoutRoutingViews(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	e.st.Exec(t, e.db, "DROP VIEW routed_outcomes_late SYNC")
	_, err := e.aggregator(e.config()).Backfill(context.Background(), now.Add(-2*time.Hour), now)
	if !errors.Is(err, ErrTablesMissing) || !strings.Contains(err.Error(), "routed_outcomes_late") {
		t.Errorf("backfill without routed_outcomes_late = %v, want ErrTablesMissing naming it", err)
	}
}

// TestResolveWithoutItsViews: an outcome that waited in pending_outcomes
// is resolved through routed_outcomes' views as well. With one missing,
// the cycle fails at routing (resolving checks nothing itself) and writes
// no watermark, so the first cycle after the view is back resolves it.
func TestResolveWithoutItsViews(t *testing.T) {
	e, a := newRoutingEnv(t)
	w := routingWindow()
	e.insertR1Outcome()
	cycle(t, a) // no prediction yet: pending

	restore := e.dropRoutedFound()
	e.insertR1Prediction(w)
	time.Sleep(10 * time.Millisecond)
	if _, err := a.RunOnce(context.Background(), time.Now().UTC()); !errors.Is(err, ErrTablesMissing) {
		t.Errorf("cycle without routed_outcomes_found = %v, want ErrTablesMissing", err)
	}
	restore()
	cycle(t, a)
	e.wantR1Routed()
}

// TestFailedCycleCountsOnce: a cycle that fails after routing outcomes and
// counting predictions past the label horizon (performance_window_states
// renamed away) stores no watermark, so the next cycle routes and counts
// the same rows again: outcomes_routed_total and
// predictions_past_horizon_total count them once, when a cycle succeeds.
func TestFailedCycleCountsOnce(t *testing.T) {
	e, a := newRoutingEnv(t)
	a.pastHorizonEvery = 0
	w := routingWindow()
	e.insertR1Prediction(w)
	cycle(t, a) // indexes r1
	e.insertR1Outcome()
	old := floorTo(time.Now().UTC().Add(-e.config().LabelHorizon-time.Hour), time.Minute)
	e.insertPredictions([]events.PredictionLog{{RequestID: "old", ModelID: "m", ModelVersion: "v1", EventTime: ms(old), Score: 0.9, HasScore: true,
		LatencyMs: 10, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}}})

	e.st.Exec(t, e.db, "RENAME TABLE performance_window_states TO performance_window_states_away")
	time.Sleep(10 * time.Millisecond) // past the ingest delay
	_, err := a.RunOnce(context.Background(), time.Now().UTC())
	e.st.Exec(t, e.db, "RENAME TABLE performance_window_states_away TO performance_window_states")
	if err == nil {
		t.Fatal("a cycle without performance_window_states succeeded")
	}
	cycle(t, a)
	wantRouted(t, a, "after a failed cycle and a good one", map[string]float64{"matched": 1, "pending": 0, "past_horizon": 0})
	if got := testutil.ToFloat64(a.m.pastHorizon); got != 1 {
		t.Errorf("predictions_past_horizon_total = %v after a failed cycle and a good one, want 1", got)
	}
}
