package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/predlog/predlog/internal/clip"
	"github.com/predlog/predlog/pkg/events"
)

// Bounds on request parameters. Lengths count characters (Unicode code
// points), as the OpenAPI file's maxLength does.
const (
	MaxIDChars      = events.MaxIDChars // model, experiment and feature ids: the ingester refuses longer ones
	MaxVersionChars = events.MaxVersionChars
	MaxDays         = 365
	// AllVersions is the model_version of the metric rows over all versions.
	AllVersions = events.AllVersions
)

// ParamError is a malformed request parameter; it answers 400.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

func paramErr(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// quote shows a rejected value in an error message, shortened.
func quote(v string) string {
	return strconv.Quote(clip.String(v, 40))
}

// checkID validates an identifier from the path or the query: non-empty,
// valid UTF-8 of at most maxChars characters, no control characters.
// Everything else (quotes, semicolons, braces, backslashes) is allowed: ids
// reach ClickHouse as bound parameters and are matched literally.
func checkID(param, v string, maxChars int) error {
	if v == "" {
		return paramErr(param, "must not be empty")
	}
	if p := events.IDProblem(v, maxChars); p != "" {
		return paramErr(param, "%s", p)
	}
	return nil
}

// query reads the query string strictly: unknown and repeated parameters
// are errors, so a typo (granularty=1d) does not silently give defaults.
type query struct {
	values url.Values
}

func parseQuery(rawQuery string, allowed ...string) (query, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		// "invalid URL escape "%zz"", "invalid semicolon separator in query"
		return query{}, paramErr("query", "malformed query string: %s; separate parameters with & and percent-encode values", err)
	}
	// In the order given, so that the same request always names the same
	// parameter: the first that is unknown or repeated.
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k) // url.ParseQuery accepted it
		switch {
		case k == "":
			return query{}, paramErr("query", "a parameter without a name (%s); want name=value", quote(part))
		case !slices.Contains(allowed, k):
			if len(allowed) == 0 {
				return query{}, paramErr(k, "unknown parameter; this endpoint takes none")
			}
			return query{}, paramErr(k, "unknown parameter; accepted: %s", strings.Join(allowed, ", "))
		case len(vals[k]) > 1:
			return query{}, paramErr(k, "given more than once")
		}
	}
	return query{values: vals}, nil
}

func (q query) get(name string) (string, bool) {
	vs, ok := q.values[name]
	if !ok {
		return "", false
	}
	return vs[0], true
}

// days reads an integer in [1, MaxDays].
func (q query) days(def int) (int, error) {
	v, ok := q.get("days")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxDays {
		return 0, paramErr("days", "want an integer from 1 to %d, got %s", MaxDays, quote(v))
	}
	return n, nil
}

// granularity reads one of allowed (e.g. 1m, 1h, 1d).
func (q query) granularity(def string, allowed []string) (string, error) {
	v, ok := q.get("granularity")
	if !ok {
		return def, nil
	}
	if !slices.Contains(allowed, v) {
		return "", paramErr("granularity", "want one of %s, got %s", strings.Join(allowed, ", "), quote(v))
	}
	return v, nil
}

// version reads a model version; absent means AllVersions.
func (q query) version() (string, error) {
	v, ok := q.get("version")
	if !ok {
		return AllVersions, nil
	}
	if err := checkID("version", v, MaxVersionChars); err != nil {
		return "", err
	}
	return v, nil
}

// GranularityName names a window size the way the aggregator writes it
// into the granularity columns: 1m, 1h, 1d; 90s for sizes that are not
// whole minutes.
func GranularityName(d time.Duration) string {
	switch {
	case d <= 0:
		return d.String()
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
}

// ParseGranularity returns the window size of a granularity written as
// GranularityName writes it ("1h", not "60m"): a client can refuse a
// malformed one before asking. Which sizes an aggregator serves is its
// windows.granularities.
func ParseGranularity(name string) (time.Duration, error) {
	d, ok := granularityDuration(name)
	switch {
	case !ok:
		return 0, fmt.Errorf("want a whole number and s, m, h or d (1m, 1h, 1d), got %s", quote(name))
	case GranularityName(d) != name:
		// The API matches the names exactly.
		return 0, fmt.Errorf("write %s as %s", quote(name), GranularityName(d))
	}
	return d, nil
}

// granularityDuration is the inverse of GranularityName.
func granularityDuration(name string) (time.Duration, bool) {
	if len(name) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[:len(name)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[name[len(name)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}
