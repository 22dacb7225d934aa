package aggregate

import (
	"math"
	"testing"
)

// variant builds the rolled-up latency figures of xs as ab_read gives them.
func variant(xs ...float64) *abVariant {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	n := float64(len(xs))
	return &abVariant{n: uint64(len(xs)), latencyAvg: sum / n, latencySq: &sq}
}

func repeat(x float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

func TestWelchFromSums(t *testing.T) {
	noSq := variant(1, 2, 3)
	noSq.latencySq = nil
	tests := []struct {
		name   string
		c, v   *abVariant
		wantOK bool
	}{
		{"textbook", variant(1, 2, 3, 4), variant(2, 4, 6, 8, 10), true},
		{"one side constant", variant(5, 5, 5), variant(1, 2, 3), true},
		{"both constant", variant(0, 0), variant(0, 0), false},
		{"both constant, not zero", variant(repeat(0.1, 1000)...), variant(repeat(0.3, 3000)...), false},
		{"both constant, many", variant(repeat(0.1, 100_000)...), variant(repeat(0.3, 100_000)...), false},
		{"small real variance", variant(10, 10.01, 9.99, 10), variant(repeat(0.3, 100_000)...), true},
		{"one prediction", variant(1), variant(1, 2), false},
		{"states without squares", noSq, variant(1, 2), false},
	}
	for _, tt := range tests {
		got, ok := welchFromSums(tt.c, tt.v, 0.95)
		if ok != tt.wantOK {
			t.Errorf("%s: ok = %v, want %v (%v)", tt.name, ok, tt.wantOK, got)
		}
	}
	// Against the textbook formula on the raw samples (two-pass variance).
	a, b := []float64{1, 2, 3, 4}, []float64{2, 4, 6, 8, 10}
	mv := func(xs []float64) (m, v float64) {
		for _, x := range xs {
			m += x
		}
		m /= float64(len(xs))
		for _, x := range xs {
			v += (x - m) * (x - m)
		}
		return m, v / float64(len(xs)-1)
	}
	ma, va := mv(a)
	mb, vb := mv(b)
	se := math.Sqrt(va/4 + vb/5)
	df := math.Pow(va/4+vb/5, 2) / (math.Pow(va/4, 2)/3 + math.Pow(vb/5, 2)/4)
	got, _ := welchFromSums(variant(a...), variant(b...), 0.95)
	if want := (ma - mb) / se; math.Abs(got.t-want) > 1e-12 {
		t.Errorf("t = %v, want %v", got.t, want)
	}
	if want := StudentTTwoSided((ma-mb)/se, df); math.Abs(got.p-want) > 1e-12 {
		t.Errorf("p = %v, want %v", got.p, want)
	}
	q := StudentTQuantile(0.975, df)
	gotSE := math.Sqrt(got.varC + got.varV)
	if lo, hi := ma-mb-got.q*gotSE, ma-mb+got.q*gotSE; math.Abs(lo-(ma-mb-q*se)) > 1e-9 || math.Abs(hi-(ma-mb+q*se)) > 1e-9 {
		t.Errorf("interval = [%v, %v], want %v ± %v", lo, hi, ma-mb, q*se)
	}
}
