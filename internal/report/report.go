// Package report prints a plain-text summary of every model: volume, quality,
// latency, drift and A/B verdicts. Every figure is read from the aggregator's
// query API or from ClickHouse; nothing is computed here but formatting.
package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/predlog/predlog/internal/api"
	"github.com/predlog/predlog/internal/chquery"
)

// Config says where to read from.
type Config struct {
	API        string // aggregator base URL, e.g. http://127.0.0.1:9465
	ClickHouse string // ClickHouse HTTP URL, e.g. http://127.0.0.1:8123
	Database   string
	// User and Password are sent to ClickHouse in headers: unlike a
	// password in the URL, they need not be on the command line.
	User, Password string
	Days           int // period of the report, at least 1
	// Granularity is the window size of the performance history and
	// drift; empty leaves it to the API (1h, or finer for a model younger
	// than an hour).
	Granularity string
	// SliceKey, if set, adds each model's worst values of that key (one of
	// the aggregator's slices.metadata_keys).
	SliceKey string
	Client   *http.Client
}

// Write prints the report for every model to w.
func Write(ctx context.Context, cfg Config, w io.Writer) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	var models api.ModelList
	if err := getJSON(ctx, cfg, "/v1/models", nil, &models); err != nil {
		return err
	}
	if len(models.Models) == 0 {
		fmt.Fprintln(w, "no models yet: nothing has been ingested")
		return nil
	}
	for _, m := range models.Models {
		// A model's section is printed once all its answers are in: the
		// flags only the API can check (a granularity or slice key the
		// aggregator does not serve) fail at the first model's requests,
		// which must not leave half its section printed.
		var section bytes.Buffer
		if err := writeModel(ctx, cfg, &section, m); err != nil {
			if fe := (*flagError)(nil); errors.As(err, &fe) {
				return err // the same for every model
			}
			return fmt.Errorf("model %s: %w", m.ModelID, err)
		}
		if _, err := section.WriteTo(w); err != nil {
			return err
		}
	}
	return writeExperiments(ctx, cfg, w)
}

// check refuses, before any request, the flag values the API would refuse
// whatever the aggregator's config: which granularities and slice keys it
// serves only the API can say.
func (cfg Config) check() error {
	if cfg.Days < 1 || cfg.Days > api.MaxDays {
		return fmt.Errorf("days: %d; the report covers 1 to %d days", cfg.Days, api.MaxDays)
	}
	if cfg.Granularity != "" {
		if _, err := api.ParseGranularity(cfg.Granularity); err != nil {
			return fmt.Errorf("granularity: %w", err)
		}
	}
	return nil
}

func writeModel(ctx context.Context, cfg Config, w io.Writer, m api.ModelSummary) error {
	var perf api.PerformanceHistory
	if err := getJSON(ctx, cfg, "/v1/models/"+pathSegment(m.ModelID)+"/performance", cfg.period(url.Values{"version": {"*"}}), &perf); err != nil {
		return err
	}
	problem := str(m.ProblemType, "")
	if problem != "" {
		fmt.Fprintf(w, "\n== %s (%s, latest version %s, %d version(s)) ==\n", m.ModelID, problem, str(m.LatestVersion, "?"), m.Versions)
	} else {
		// No metadata record: the aggregator's windows say how it scored
		// the predictions.
		if n := len(perf.History); n > 0 {
			problem = perf.History[n-1].ProblemType
		}
		fmt.Fprintf(w, "\n== %s (%s from its predictions, no metadata record; latest version %s) ==\n", m.ModelID,
			str(&problem, "unknown problem type"), str(m.LatestVersion, "?"))
	}
	s := perf.Summary
	fmt.Fprintf(w, "  predictions  %d in %d window(s); labeled %d; error rate %s\n",
		s.TotalPredictions, s.Windows, s.LabeledPredictions, pct(s.ErrorRate))
	// Period figures (every labelled window weighted by its labels), not
	// one window's: a window may hold a few dozen labels. R² has no period
	// figure (its variance term does not add up over windows).
	switch problem {
	case "regression":
		lw := labeledWindow(perf.History)
		fmt.Fprintf(w, "  quality      MAE %s  RMSE %s (period)  trend %s; R² %s (%s)\n", num(s.AvgMAE), num(s.AvgRMSE), trend(s),
			num(lw.R2), windowNote(lw))
	case "multiclass":
		fmt.Fprintf(w, "  quality      accuracy %s  macro F1 %s (period)  trend %s\n",
			num(s.AvgAccuracy), num(s.AvgMacroF1), trend(s))
	default:
		fmt.Fprintf(w, "  quality      precision %s  recall %s  F1 %s (period)  trend %s\n",
			num(s.AvgPrecision), num(s.AvgRecall), num(s.AvgF1), trend(s))
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning      %s\n", warn.Message)
	}
	if cfg.SliceKey != "" {
		var sl api.SliceList
		sq := cfg.period(url.Values{"version": {"*"}, "slice_key": {cfg.SliceKey}})
		if err := getJSON(ctx, cfg, "/v1/models/"+pathSegment(m.ModelID)+"/slices", sq, &sl); err != nil {
			return err
		}
		fmt.Fprintf(w, "  by %-9s %s\n", cfg.SliceKey, worstSlices(sl.Slices))
	}
	p50, p99, err := latency(ctx, cfg, m.ModelID)
	if err != nil {
		return clickHouseError(cfg, err)
	}
	fmt.Fprintf(w, "  latency      p50 %s ms  p99 %s ms (t-digest over the period)\n", num(p50), num(p99))

	var drift api.DriftHistory
	if err := getJSON(ctx, cfg, "/v1/models/"+pathSegment(m.ModelID)+"/drift", cfg.period(url.Values{}), &drift); err != nil {
		return err
	}
	// The features flagged in their latest window of minDriftSamples
	// predictions (driftWindow), strongest first.
	type hit struct {
		name string
		psi  float64
		line string
	}
	var hits []hit
	for _, f := range drift.Features {
		l := driftWindow(f)
		if l == nil || !l.Flagged {
			continue
		}
		h := hit{name: f.Feature + "@" + f.ModelVersion}
		stat := "JS " + num(l.JSDistance)
		if l.PSI != nil {
			h.psi, stat = *l.PSI, "PSI "+num(l.PSI)
		}
		h.line = fmt.Sprintf("%s %s (%s)", h.name, stat, strings.Join(l.FlagReasons, "+"))
		hits = append(hits, h)
	}
	sort.Slice(hits, func(i, j int) bool {
		return hits[i].psi > hits[j].psi || hits[i].psi == hits[j].psi && hits[i].name < hits[j].name
	})
	switch {
	case len(hits) == 0:
		fmt.Fprintf(w, "  drift        no feature flagged in its latest window of %d+ predictions (%d checked)\n", minDriftSamples, len(drift.Features))
	default:
		more := ""
		if len(hits) > 5 {
			more = fmt.Sprintf(" and %d more", len(hits)-5)
			hits = hits[:5]
		}
		lines := make([]string, len(hits))
		for i, h := range hits {
			lines[i] = h.line
		}
		fmt.Fprintf(w, "  drift        flagged in the latest window of %d+ predictions: %s%s\n", minDriftSamples, strings.Join(lines, "; "), more)
	}
	return nil
}

// sliceFigures are the figures worstSlices ranks slices by, the first one
// some slice has: lower is worse unless higherWorse.
var sliceFigures = []struct {
	name        string
	get         func(api.PerformanceSummary) *float64
	higherWorse bool
	format      func(*float64) string
}{
	{"F1", func(s api.PerformanceSummary) *float64 { return s.AvgF1 }, false, num},
	{"macro F1", func(s api.PerformanceSummary) *float64 { return s.AvgMacroF1 }, false, num},
	{"MAE", func(s api.PerformanceSummary) *float64 { return s.AvgMAE }, true, num},
	{"errors", func(s api.PerformanceSummary) *float64 { return s.ErrorRate }, true, pct},
}

// worstSlices names the three values with the worst quality over the
// period (F1, else macro F1, else MAE, else error rate), each with its
// volume.
func worstSlices(ss []api.SliceSummary) string {
	// "other" folds the rarer values together: not a value to name.
	ss = slices.DeleteFunc(slices.Clone(ss), func(s api.SliceSummary) bool { return s.SliceValue == api.OtherSlice })
	if len(ss) == 0 {
		return "no slices in the period"
	}
	fig := sliceFigures[len(sliceFigures)-1]
	for _, f := range sliceFigures {
		if slices.ContainsFunc(ss, func(s api.SliceSummary) bool { return f.get(s.Summary) != nil }) {
			fig = f
			break
		}
	}
	slices.SortStableFunc(ss, func(a, b api.SliceSummary) int {
		x, y := fig.get(a.Summary), fig.get(b.Summary)
		switch {
		case x == nil || y == nil: // slices without the figure last
			return cmp.Compare(boolInt(x == nil), boolInt(y == nil))
		case fig.higherWorse:
			return cmp.Compare(*y, *x)
		}
		return cmp.Compare(*x, *y)
	})
	parts := make([]string, 0, 3)
	for _, s := range ss[:min(3, len(ss))] {
		v := s.SliceValue
		if v == "" {
			v = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s (%d)", v, fig.name, fig.format(fig.get(s.Summary)), s.Summary.TotalPredictions))
	}
	return fmt.Sprintf("worst of %d: %s", len(ss), strings.Join(parts, "; "))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeExperiments prints every experiment the API lists, most recently
// active first.
func writeExperiments(ctx context.Context, cfg Config, w io.Writer) error {
	var list api.ExperimentList
	if err := getJSON(ctx, cfg, "/v1/experiments", nil, &list); err != nil {
		return err
	}
	if len(list.Experiments) == 0 {
		fmt.Fprintln(w, "\n== experiments ==\n  none with results yet")
		return nil
	}
	for _, le := range list.Experiments {
		id := le.ExperimentID
		var e api.Experiment
		if err := getJSON(ctx, cfg, "/v1/experiments/"+pathSegment(id), nil, &e); err != nil {
			return fmt.Errorf("experiment %s: %w", id, err)
		}
		fmt.Fprintf(w, "\n== experiment %s (%s window from %s, control %s) ==\n", id, e.Window.Granularity,
			e.Window.WindowStart.Format(time.RFC3339), e.ControlVariant)
		if e.SRMMismatch != nil && *e.SRMMismatch {
			fmt.Fprintf(w, "  sample ratio mismatch (p=%s): traffic split is off, treat results with care\n", num(e.SRMPValue))
		}
		for _, v := range e.Variants {
			fmt.Fprintf(w, "  variant %-8s %s@%s  %d predictions, %d labeled\n", v.Variant, v.ModelID, v.ModelVersion, v.PredictionCount, v.LabeledCount)
			if v.IsControl {
				continue
			}
			for _, mt := range v.Metrics {
				verdict := "no significant difference"
				if mt.Significant {
					verdict = "significant"
				}
				fmt.Fprintf(w, "    %-16s %s vs %s  lift %s [%s, %s]  p=%s  %s\n", mt.Metric, num(mt.Value), num(mt.ControlValue),
					pct(mt.Lift), pct(mt.LiftCILower), pct(mt.LiftCIUpper), num(mt.PValue), verdict)
			}
		}
	}
	if list.Truncated {
		fmt.Fprintf(w, "\n(the %d most recently active experiments; GET /v1/experiments lists no more)\n", len(list.Experiments))
	}
	return nil
}

// period adds the report's days and granularity to q.
func (cfg Config) period(q url.Values) url.Values {
	q.Set("days", strconv.Itoa(cfg.Days))
	if cfg.Granularity != "" {
		q.Set("granularity", cfg.Granularity)
	}
	return q
}

// latency reads the period's latency quantiles from the real-time view.
func latency(ctx context.Context, cfg Config, model string) (p50, p99 *float64, err error) {
	out, err := chQuery(ctx, cfg, `SELECT arrayStringConcat(arrayMap(x -> toString(x), quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles)), ' ')
		FROM prediction_stats_1m WHERE model_id = {model:String} AND minute >= now() - toIntervalDay({days:UInt32})`,
		url.Values{"param_model": {chquery.Param(model)}, "param_days": {strconv.Itoa(cfg.Days)}})
	if err != nil {
		return nil, nil, err
	}
	f := strings.Fields(out)
	if len(f) != 4 {
		return nil, nil, nil
	}
	a, err1 := strconv.ParseFloat(f[0], 64)
	b, err2 := strconv.ParseFloat(f[3], 64)
	if err1 != nil || err2 != nil || math.IsNaN(a) || math.IsNaN(b) {
		// nan: no predictions in the period (no t-digest state to merge).
		return nil, nil, nil
	}
	return &a, &b, nil
}

// pathSegment escapes an id as one path segment. The ids "." and ".."
// (legal: the ingester takes any printable id) are percent-encoded too:
// url.PathEscape leaves dots alone, and a "." or ".." segment is refused by
// the API (it would name another resource once cleaned).
func pathSegment(id string) string {
	if id == "." || id == ".." {
		return strings.ReplaceAll(id, ".", "%2E")
	}
	return url.PathEscape(id)
}

func getJSON(ctx context.Context, cfg Config, path string, q url.Values, dst any) error {
	u := strings.TrimRight(cfg.API, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	// Neither error quotes the URL, as chquery.Run's: a proxy in front of
	// the API may want a password in it, which url.Error masks only when
	// it parsed as one (not with an unencoded '#', '?' or '/').
	base, err := url.Parse(cfg.API)
	if err == nil && chquery.MisplacedAt(base) {
		err = errors.New("misplaced '@'")
	}
	var req *http.Request
	if err == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
	if err != nil {
		return errors.New("invalid API URL: want http(s)://host:port; percent-encode special characters of a user or password in it")
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("GET %s: %w", path, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			if flag, ok := paramFlags[e.Parameter]; ok {
				return &flagError{fmt.Sprintf("%s refused by the aggregator: %s", flag, e.Message)}
			}
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, e.Message)
		}
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, dst)
}

// paramFlags are the flags behind the API's query parameters: a refused
// parameter is the user's flag to fix, not a failure of the request.
var paramFlags = map[string]string{"days": "--days", "granularity": "--granularity", "slice_key": "--slice-key"}

// clickHouseError names the flags when ClickHouse refused what they name
// (the server, the database, the credentials), which is the same for every
// model; other errors (a timeout) stay the model's.
func clickHouseError(cfg Config, err error) error {
	msg := err.Error()
	if !slices.ContainsFunc([]string{"UNKNOWN_DATABASE", "AUTHENTICATION_FAILED", "REQUIRED_PASSWORD", "UNKNOWN_USER", "ACCESS_DENIED", "connection refused", "no such host"},
		func(s string) bool { return strings.Contains(msg, s) }) {
		return err
	}
	target := "(unparsable URL)"
	if u, perr := url.Parse(cfg.ClickHouse); perr == nil {
		u.RawQuery = "" // may hold ?password=
		target = u.Redacted()
	}
	return &flagError{fmt.Sprintf("ClickHouse at --clickhouse %s, --database %s: %v", target, cfg.Database, err)}
}

// flagError is a flag value the API or ClickHouse refused: the same for
// every model, so not reported as one model's.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

// chQuery runs sql with bound parameters (param_* values) over ClickHouse HTTP.
func chQuery(ctx context.Context, cfg Config, sql string, params url.Values) (string, error) {
	return chquery.Target{URL: cfg.ClickHouse, Database: cfg.Database, User: cfg.User, Password: cfg.Password, Client: cfg.Client}.Run(ctx, sql, params)
}

// minLabeled is how many labels make a window's quality worth quoting.
const minLabeled = 30

// minDriftSamples is how many predictions make a window's drift worth quoting.
const minDriftSamples = 30

// driftWindow returns the window whose drift the report quotes for a
// feature: the latest with at least minDriftSamples predictions, else the
// latest. The last window of a model that stopped serving (or of the
// demo's load) may hold a handful of predictions, too few for any test to
// flag, and would read as "no feature flagged" after hours of drift.
func driftWindow(f api.FeatureDrift) *api.DriftWindow {
	for i := len(f.Windows) - 1; i >= 0; i-- {
		if f.Windows[i].SampleCount >= minDriftSamples {
			return &f.Windows[i]
		}
	}
	return f.Latest
}

// labeledWindow returns the window whose R² the report quotes: the latest
// with at least minLabeled labels, else the one with the most (the latest
// of those). Zero without labels.
func labeledWindow(h []api.PerformanceWindow) api.PerformanceWindow {
	var best api.PerformanceWindow
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].LabeledCount >= minLabeled {
			return h[i]
		}
		if h[i].LabeledCount > best.LabeledCount {
			best = h[i]
		}
	}
	return best
}

func windowNote(w api.PerformanceWindow) string {
	if w.LabeledCount == 0 {
		return "no labeled window"
	}
	return fmt.Sprintf("window %s, %d labels", w.WindowStart.UTC().Format("2006-01-02 15:04"), w.LabeledCount)
}

// trend is the summary's trend, or why there is none.
func trend(s api.PerformanceSummary) string {
	d := s.TrendDetail
	switch {
	case s.Trend != nil:
		return *s.Trend
	case d.Change != nil && min(d.StartLabeled, d.EndLabeled) < uint64(max(d.MinLabeled, 0)):
		return fmt.Sprintf("n/a (%d and %d labels at the ends, %d needed)", d.StartLabeled, d.EndLabeled, d.MinLabeled)
	}
	return "n/a"
}

func str(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

func num(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

func pct(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p*100, 'f', 1, 64) + "%"
}
