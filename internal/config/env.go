package config

import (
	"slices"
	"strings"
)

// MisspeltEnv returns a warning for each PREDLOG_* variable of environ
// ("NAME=value" entries, as os.Environ) that is no setting of either daemon
// but a letter or two away from one, or its letters with the underscores
// placed otherwise, or the other number: a misspelt variable is otherwise
// ignored, and the daemon runs on the default. Variables of the other
// daemon are settings (one env file may serve both), and names far from
// every setting (a tool's own) are left alone.
func MisspeltEnv(environ []string) []string {
	known := []string{ConfigEnv}
	ing, agg := DefaultIngester(), DefaultAggregator()
	for _, bind := range []func(*binder){ing.bind, agg.bind} {
		b := newBinder()
		bind(b)
		for _, f := range b.fields {
			known = append(known, EnvName(f.key))
		}
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(known, name) {
			continue
		}
		best := closest(name, known, max(1, len(name)/12))
		if best == "" {
			best = pluralOf(name, known)
		}
		if best == "" {
			best = sameLetters(name, known)
		}
		if best != "" {
			out = append(out, name+" is not a setting and is ignored; did you mean "+best+"?")
		}
	}
	return out
}

// sameLetters returns the candidate that is name with its underscores
// placed otherwise (PREDLOG_BATCHMAXAGE for PREDLOG_BATCH_MAX_AGE): each
// missing underscore is an edit, too many for the distance of a typo.
func sameLetters(name string, candidates []string) string {
	bare := strings.ReplaceAll(name, "_", "")
	for _, c := range candidates {
		if strings.ReplaceAll(c, "_", "") == bare {
			return c
		}
	}
	return ""
}

// pluralOf returns the candidate that is name in the other number
// (GRANULARITY for GRANULARITIES, KEY for KEYS, and back): further than a
// typo in edits on long names, and a likely mistake.
func pluralOf(name string, candidates []string) string {
	forms := []string{name + "S", strings.TrimSuffix(name, "S")}
	if base, ok := strings.CutSuffix(name, "Y"); ok {
		forms = append(forms, base+"IES")
	}
	if base, ok := strings.CutSuffix(name, "IES"); ok {
		forms = append(forms, base+"Y")
	}
	for _, c := range candidates {
		if c != name && slices.Contains(forms, c) {
			return c
		}
	}
	return ""
}
