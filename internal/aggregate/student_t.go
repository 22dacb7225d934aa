package aggregate

import "math"

// Student's t distribution, for Welch's t-test on rolled-up sums (the A/B
// verdicts, welch.go), where ClickHouse's welchTTest would need the raw
// rows.

// StudentTTwoSided is the two-sided p-value P(|T| >= |t|) of Student's t
// distribution with df degrees of freedom (df > 0, not necessarily whole):
// I_{df/(df+t²)}(df/2, 1/2).
func StudentTTwoSided(t, df float64) float64 {
	if math.IsNaN(t) || !(df > 0) {
		return math.NaN()
	}
	if math.IsInf(t, 0) {
		return 0
	}
	return clamp01(betaI(df/2, 0.5, df/(df+t*t)))
}

// StudentTQuantile is the p-quantile (0 < p < 1) of Student's t with df
// degrees of freedom, by bisection on StudentTTwoSided (to ~1e-12
// relative).
func StudentTQuantile(p, df float64) float64 {
	if !(p > 0 && p < 1) || !(df > 0) {
		return math.NaN()
	}
	if p == 0.5 {
		return 0
	}
	upper := p > 0.5
	tail := 2 * math.Min(p, 1-p) // two-sided p-value of the quantile's |t|
	lo, hi := 0.0, 1.0
	for StudentTTwoSided(hi, df) > tail {
		hi *= 2
		if hi > 1e300 {
			break
		}
	}
	for range 200 {
		mid := (lo + hi) / 2
		if StudentTTwoSided(mid, df) > tail {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-12*hi {
			break
		}
	}
	q := (lo + hi) / 2
	if !upper {
		q = -q
	}
	return q
}

// betaI is the regularized incomplete beta function I_x(a, b) (Numerical
// Recipes' betai with the continued fraction betacf, modified Lentz).
func betaI(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, lentzClamp(1-qab*x/qap)
	d = 1 / d
	h := d
	// step applies one coefficient of the continued fraction (modified
	// Lentz) and returns its factor.
	step := func(aa float64) float64 {
		d = 1 / lentzClamp(1+aa*d)
		c = lentzClamp(1 + aa/c)
		return d * c
	}
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		h *= step(fm * (b - fm) * x / ((qam + m2) * (a + m2)))
		del := step(-(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2)))
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return h
}
