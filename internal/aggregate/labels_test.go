package aggregate

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/predlog/predlog/pkg/events"
)

// TestUnmatchedLabels: a binary model whose outcomes carry two or more
// label values that are no positive class, and no positive-class label
// since, is warned about once and gauged while it lasts, also when the
// values come a cycle apart; one negative value alone, labels that include
// the positive class, and models that are not binary are not; a
// positive-class label clears it.
func TestUnmatchedLabels(t *testing.T) {
	e := newEnv(t)
	e.insertModel("yesno", "v1", events.ProblemBinary, 0.5, "yes")
	e.insertModel("cats", "v1", events.ProblemBinary, 0.5, "1") // classes sent to a model registered as binary
	e.insertModel("multi", "v1", events.ProblemMulticlass, 0, "")
	e.insertModel("mixed", "v1", events.ProblemBinary, 0.5, "1")
	e.insertModel("mixed", "v2", events.ProblemBinary, 0.5, "pos") // a positive class per version

	n := 0
	outcomes := func(model string, labels ...string) []events.Outcome {
		var os []events.Outcome
		for i := 0; i < 3; i++ {
			for _, l := range labels {
				n++
				os = append(os, events.Outcome{RequestID: fmt.Sprintf("r%d", n), ModelID: model, EventTime: time.Now().UnixMilli(),
					Label: l, HasLabel: true, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
			}
		}
		return os
	}

	core, logs := observer.New(zap.InfoLevel)
	cfg := e.config()
	cfg.LabelCap = 2
	a, err := New(cfg, e.st.Conn(t, e.db), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	cycle(t, a) // sets the watermarks: the next cycle reads what is ingested after

	var os []events.Outcome
	os = append(os, outcomes("truefalse", "true", "false")...) // no metadata: positive class "1"
	os = append(os, outcomes("yesno", "yes", "no")...)
	os = append(os, outcomes("zeroone", "0", "1")...)
	os = append(os, outcomes("rare", "0")...) // all negative: not told apart from rare positives
	os = append(os, outcomes("cats", "cat", "dog", "bird")...)
	os = append(os, outcomes("multi", "cat", "dog", "bird")...)
	os = append(os, outcomes("mixed", "1", "pos", "0")...)
	os = append(os, outcomes("slow", "no")...)     // one value a cycle
	os = append(os, outcomes("regression", "")...) // outcomes without a label
	os = append(os, outcomes("zeroone", "")...)    // a value alone does not count as a label
	for i := range os {
		if os[i].Label == "" {
			os[i].HasLabel, os[i].Label, os[i].Value, os[i].HasValue = false, "", 1.5, true
		}
	}
	e.insertOutcomes(os)
	cycle(t, a)

	warned := func() map[string]int {
		w := map[string]int{}
		for _, l := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
			w[fmt.Sprint(l.ContextMap()["model"])]++
		}
		return w
	}
	if w := warned(); len(w) != 2 || w["truefalse"] != 1 || w["cats"] != 1 {
		t.Errorf("warned about %v, want truefalse and cats once each", w)
	}
	// gauges checks the model_unmatched_labels series: exactly these.
	gauges := func(want map[string]float64) {
		t.Helper()
		if n := testutil.CollectAndCount(a.m.unmatched); n != len(want) {
			t.Errorf("%d model_unmatched_labels series, want %d", n, len(want))
		}
		for model, v := range want {
			if got := testutil.ToFloat64(a.m.unmatched.WithLabelValues(model)); got != v {
				t.Errorf("model_unmatched_labels{model=%q} = %v, want %v", model, got, v)
			}
		}
	}
	gauges(map[string]float64{"truefalse": 2, "cats": 3})
	for _, l := range logs.FilterMessageSnippet("do not match").All() {
		if l.ContextMap()["model"] == "truefalse" && fmt.Sprint(l.ContextMap()["labels"]) != "[false true]" {
			t.Errorf("truefalse warning names labels %v, want [false true]", l.ContextMap()["labels"])
		}
	}

	// truefalse is fixed; cats goes on (no second warning, its values
	// gathered: 3); slow's second value comes; late is new. Beyond the
	// cap of 2 series (cats, then late) slow is warned about without one.
	os = append(outcomes("truefalse", "1", "0"), outcomes("cats", "cat", "dog")...)
	os = append(os, outcomes("late", "a", "b")...)
	os = append(os, outcomes("slow", "nope")...)
	os = append(os, outcomes("rare", "0")...)
	e.insertOutcomes(os)
	cycle(t, a)
	if w := warned(); len(w) != 4 || w["cats"] != 1 || w["late"] != 1 || w["slow"] != 1 {
		t.Errorf("warned about %v, want truefalse, cats, late and slow once each", w)
	}
	if r := logs.FilterMessageSnippet("match the positive class again").All(); len(r) != 1 || r[0].ContextMap()["model"] != "truefalse" {
		t.Errorf("recovery logs %v, want one for truefalse", r)
	}
	gauges(map[string]float64{"cats": 3, "late": 2})
}

// TestUnmatchedLabelsMany: outcomes for many binary models whose labels
// match no positive class name the first maxLabelWarnings models and sum
// up the rest in one line (one warning each flooded the log: 20,000 lines
// for 20,000 model ids in one cycle); the series stay within the cap.
func TestUnmatchedLabelsMany(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	cfg := e.config()
	cfg.LabelCap = 5
	a, err := New(cfg, e.st.Conn(t, e.db), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	cycle(t, a)
	const models = maxLabelWarnings + 15
	var os []events.Outcome
	for i := range models {
		for j, l := range []string{"yes", "no"} {
			os = append(os, events.Outcome{RequestID: fmt.Sprintf("r%d-%d", i, j), ModelID: fmt.Sprintf("m%02d", i), EventTime: time.Now().UnixMilli(),
				Label: l, HasLabel: true, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
		}
	}
	e.insertOutcomes(os)
	cycle(t, a)
	named := logs.FilterMessageSnippet("do not match the positive class:").Len()
	summary := logs.FilterMessageSnippet("more binary models").All()
	if named != maxLabelWarnings || len(summary) != 1 || summary[0].ContextMap()["models"] != int64(models-maxLabelWarnings) {
		t.Errorf("%d models named, summaries %v; want %d named and one summary of %d", named, summary, maxLabelWarnings, models-maxLabelWarnings)
	}
	if n := testutil.CollectAndCount(a.m.unmatched); n != cfg.LabelCap {
		t.Errorf("%d model_unmatched_labels series, want the cap (%d)", n, cfg.LabelCap)
	}
	if len(a.labels) != models {
		t.Errorf("%d models remembered, want %d", len(a.labels), models)
	}

	// At the bound on remembered models: the rest wait, said once.
	a.labelModels = models + 2
	os = os[:0]
	for i := range 5 {
		for j, l := range []string{"yes", "no"} {
			os = append(os, events.Outcome{RequestID: fmt.Sprintf("s%d-%d", i, j), ModelID: fmt.Sprintf("s%02d", i), EventTime: time.Now().UnixMilli(),
				Label: l, HasLabel: true, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
		}
	}
	e.insertOutcomes(os)
	cycle(t, a)
	cycle(t, a)
	if len(a.labels) != models+2 || logs.FilterMessageSnippet("remembering the first models only").Len() != 1 {
		t.Errorf("%d models remembered (want %d), bound said %d times (want once)", len(a.labels), models+2,
			logs.FilterMessageSnippet("remembering the first models only").Len())
	}
}
