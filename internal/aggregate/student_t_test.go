package aggregate

import (
	"math"
	"testing"
)

// TestStudentT checks the t distribution against closed forms: df = 1 is
// the Cauchy distribution (p = 1 - 2·atan|t|/π), df = 2 has p = 1 -
// |t|/√(2+t²), large df tends to the normal; and I_x(a, 1) = x^a,
// I_x(1, b) = 1 - (1-x)^b for the incomplete beta behind them.
func TestStudentT(t *testing.T) {
	for _, x := range []float64{0, 0.1, 0.5, 1, 2.5, 10, 1e3} {
		if got, want := StudentTTwoSided(x, 1), 1-2*math.Atan(x)/math.Pi; math.Abs(got-want) > 1e-12 {
			t.Errorf("df=1 t=%v: p %v, want %v", x, got, want)
		}
		if got, want := StudentTTwoSided(-x, 2), 1-x/math.Sqrt(2+x*x); math.Abs(got-want) > 1e-12 {
			t.Errorf("df=2 t=%v: p %v, want %v", -x, got, want)
		}
		if got, want := StudentTTwoSided(x, 1e7), NormalSurvival2(x); math.Abs(got-want) > 1e-6 {
			t.Errorf("df=1e7 t=%v: p %v, want normal %v", x, got, want)
		}
	}
	for _, p := range []float64{0.5, 0.6, 0.9, 0.975, 0.999, 0.025} {
		if got, want := StudentTQuantile(p, 1), math.Tan(math.Pi*(p-0.5)); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("df=1 quantile(%v) = %v, want %v", p, got, want)
		}
		for _, df := range []float64{2.5, 7, 300} {
			q := StudentTQuantile(p, df)
			if back := StudentTTwoSided(q, df); math.Abs(back-2*math.Min(p, 1-p)) > 1e-10 {
				t.Errorf("df=%v: p(quantile(%v)=%v) = %v", df, p, q, back)
			}
		}
	}
	for _, x := range []float64{0.01, 0.3, 0.7, 0.99} {
		for _, a := range []float64{0.5, 2, 7.5} {
			if got, want := betaI(a, 1, x), math.Pow(x, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("I_%v(%v, 1) = %v, want %v", x, a, got, want)
			}
			if got, want := betaI(1, a, x), 1-math.Pow(1-x, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("I_%v(1, %v) = %v, want %v", x, a, got, want)
			}
		}
	}
}
