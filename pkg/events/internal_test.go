package events

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// readNumber's fast path must give exactly what strconv gives.
func TestReadNumberMatchesStrconv(t *testing.T) {
	f := func(s string) {
		t.Helper()
		d := &Decoder{data: []byte(s)}
		got, err := d.readNumber()
		if err != nil {
			t.Fatalf("readNumber(%q): %v", s, err)
		}
		if d.pos != len(s) {
			t.Fatalf("readNumber(%q) stopped at %d", s, d.pos)
		}
		want, _ := strconv.ParseFloat(s, 64)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("readNumber(%q) = %v, strconv says %v", s, got, want)
		}
	}
	for _, s := range []string{
		"0", "-0", "1", "-1", "0.1", "0.3", "123.456", "9007199254740992", "9007199254740993",
		"18446744073709551615", "1e22", "1e23", "1e-22", "1e-23", "4.9e-324", "1e-400",
		"1.7976931348623157e308", "1e309", "-1e309", "0.000000000000000000001234",
		"123456789012345678901234567890", "3.14159265358979323846264338327950288",
		"1E5", "1e+5", "2.5E-3", "0e10", "0.0", "1764166516123", "1764166516123.5",
	} {
		f(s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var s string
		switch r.IntN(4) {
		case 0:
			s = strconv.FormatFloat(r.NormFloat64()*math.Pow10(r.IntN(40)-20), 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(math.Round(r.Float64()*1e6)/math.Pow10(r.IntN(8)), 'f', -1, 64)
		case 2:
			s = strconv.FormatInt(r.Int64N(1<<60)-(1<<59), 10)
		default:
			s = strconv.FormatFloat(math.Float64frombits(r.Uint64()), 'e', -1, 64)
			if s == "NaN" || s == "+Inf" || s == "-Inf" {
				continue
			}
		}
		f(s)
	}
}

func TestParseRFC3339MatchesTime(t *testing.T) {
	valid := []string{
		"2025-11-26T14:15:16Z", "2025-11-26T14:15:16.1Z", "2025-11-26T14:15:16.12Z",
		"2025-11-26T14:15:16.123Z", "2025-11-26T14:15:16.123456789Z",
		"2025-11-26T14:15:16.999+01:00", "2025-11-26T00:15:16-05:30", "2024-02-29T23:59:59Z",
		"2000-01-01T00:00:00Z", "2099-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z",
		"2025-01-01T00:00:00+23:59",
	}
	for _, s := range valid {
		got, ok := parseRFC3339([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !ok || got != want.UnixMilli() {
			t.Errorf("parseRFC3339(%q) = %d, %v; time.Parse = %d, %v", s, got, ok, want.UnixMilli(), err)
		}
	}
	invalid := []string{
		"", "2025-11-26", "2025-11-26T14:15:16", "2025-11-26T14:15:16.Z", "2025-13-01T00:00:00Z",
		"2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-11-26T24:00:00Z", "2025-11-26T14:60:00Z",
		"2025-11-26T14:15:60Z", "2025-11-26T14:15:16+0100", "2025-11-26T14:15:16+01:00x",
		"2025/11/26T14:15:16Z", "2025-11-26X14:15:16Z", "2025-11-26T14:15:16+24:00", "yesterday at 3",
		"2025-11-26T14:15:16.123ZZ", "+2025-11-26T14:15:16Z",
	}
	for _, s := range invalid {
		if got, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("parseRFC3339(%q) = %d, want failure", s, got)
		}
	}
	// Every day from 2000 to 2100 at a random time of day.
	r := rand.New(rand.NewPCG(3, 4))
	for day := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2100; day = day.AddDate(0, 0, 1) {
		tm := day.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		s := tm.Format(time.RFC3339Nano)
		if got, ok := parseRFC3339([]byte(s)); !ok || got != tm.UnixMilli() {
			t.Fatalf("parseRFC3339(%q) = %d, %v; want %d", s, got, ok, tm.UnixMilli())
		}
	}
}
