package aggregate

import (
	"math"
	"slices"
)

// The statistics behind drift_metrics and ab_results, computed from the
// per-bin and per-variant counts ClickHouse returns: cheap on k bins, and
// testable without a database.

// psiEpsilon smooths empty bins: PSI adds it to every proportion and
// renormalises, so an empty bin contributes a large but finite term.
const psiEpsilon = 1e-4

// proportions returns counts / sum(counts) (all zero when the sum is zero).
func proportions(counts []float64) []float64 {
	var n float64
	for _, c := range counts {
		n += c
	}
	out := make([]float64, len(counts))
	if n == 0 {
		return out
	}
	for i, c := range counts {
		out[i] = c / n
	}
	return out
}

// smooth returns (p_i + eps) / (1 + k·eps).
func smooth(p []float64, eps float64) []float64 {
	out := make([]float64, len(p))
	d := 1 + float64(len(p))*eps
	for i, v := range p {
		out[i] = (v + eps) / d
	}
	return out
}

// PSI is the population stability index Σ (q_i - p_i)·ln(q_i / p_i) of
// the window proportions q against the reference p, both smoothed with
// psiEpsilon.
func PSI(p, q []float64) float64 {
	ps, qs := smooth(p, psiEpsilon), smooth(q, psiEpsilon)
	var s float64
	for i := range ps {
		s += (qs[i] - ps[i]) * math.Log(qs[i]/ps[i])
	}
	return s
}

// JSDivergence is the Jensen-Shannon divergence of p and q in bits (base
// 2, in [0, 1]), unsmoothed (0·log 0 = 0). The Jensen-Shannon distance is
// its square root.
func JSDivergence(p, q []float64) float64 {
	var s float64
	for i := range p {
		m := (p[i] + q[i]) / 2
		if p[i] > 0 {
			s += p[i] / 2 * math.Log2(p[i]/m)
		}
		if q[i] > 0 {
			s += q[i] / 2 * math.Log2(q[i]/m)
		}
	}
	return math.Max(0, s)
}

// KSBinned is the Kolmogorov-Smirnov statistic between two binned
// distributions: the largest difference of their CDFs at the bin edges.
func KSBinned(p, q []float64) float64 {
	var cp, cq, d float64
	for i := range p {
		cp += p[i]
		cq += q[i]
		d = math.Max(d, math.Abs(cp-cq))
	}
	return d
}

// KSPValue is the asymptotic p-value of a KS statistic d with effective
// sample size en (n·m/(n+m) for two samples, n against a fixed reference):
// Q_KS((√en + 0.12 + 0.11/√en)·d), Q_KS(λ) = 2 Σ_{j≥1} (-1)^{j-1} e^{-2j²λ²}
// (Numerical Recipes' probks).
func KSPValue(d, en float64) float64 {
	if en <= 0 {
		return math.NaN()
	}
	s := math.Sqrt(en)
	lambda := (s + 0.12 + 0.11/s) * d
	if lambda < 1e-3 {
		return 1
	}
	var sum, sign float64 = 0, 1
	for j := 1; j <= 100; j++ {
		term := sign * 2 * math.Exp(-2*float64(j*j)*lambda*lambda)
		sum += term
		if math.Abs(term) <= 1e-10*math.Abs(sum) || math.Abs(term) < 1e-300 {
			return clamp01(sum)
		}
		sign = -sign
	}
	return 1 // did not converge: λ tiny, no evidence
}

// ChiSquareGOF is the p-value of Pearson's goodness-of-fit test of the
// observed counts against the expected proportions p (smoothed with
// psiEpsilon so that a category absent from the reference gives a finite
// statistic), with len(p)-1 degrees of freedom.
func ChiSquareGOF(observed, p []float64) float64 {
	var n float64
	for _, o := range observed {
		n += o
	}
	if n == 0 || len(p) < 2 {
		return math.NaN()
	}
	ps := smooth(p, psiEpsilon)
	var x float64
	for i, o := range observed {
		e := n * ps[i]
		x += (o - e) * (o - e) / e
	}
	return ChiSquareSurvival(x, float64(len(p)-1))
}

// ChiSquareTwoSample is the p-value of Pearson's chi-squared test of
// homogeneity of two count vectors over the same categories (a 2×k
// contingency table; categories empty in both are dropped).
func ChiSquareTwoSample(a, b []float64) float64 {
	var na, nb float64
	for i := range a {
		na += a[i]
		nb += b[i]
	}
	if na == 0 || nb == 0 {
		return math.NaN()
	}
	n := na + nb
	var x float64
	k := 0
	for i := range a {
		col := a[i] + b[i]
		if col == 0 {
			continue
		}
		k++
		ea, eb := na*col/n, nb*col/n
		x += (a[i]-ea)*(a[i]-ea)/ea + (b[i]-eb)*(b[i]-eb)/eb
	}
	if k < 2 {
		return 1
	}
	return ChiSquareSurvival(x, float64(k-1))
}

// ChiSquareSurvival is P(X > x) for X ~ χ²(df): the regularized upper
// incomplete gamma function Q(df/2, x/2).
func ChiSquareSurvival(x, df float64) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(df/2, x/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x), by
// series for x < a+1 and by continued fraction otherwise (Numerical
// Recipes' gammq).
func gammaQ(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, del, ap := 1/a, 1/a, a
		for range 1000 {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return clamp01(1 - sum*math.Exp(-x+a*math.Log(x)-lg))
	}
	b := x + 1 - a
	c := 1 / lentzClamp(0)
	d := 1 / b
	h := d
	for i := 1; i <= 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = 1 / lentzClamp(an*d+b)
		c = lentzClamp(b + an/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return clamp01(math.Exp(-x+a*math.Log(x)-lg) * h)
}

// lentzClamp keeps a Lentz denominator away from zero.
func lentzClamp(v float64) float64 {
	const tiny = 1e-300
	if math.Abs(v) < tiny {
		return tiny
	}
	return v
}

// BenjaminiHochberg returns which of the p-values are significant at false
// discovery rate alpha: sorted ascending, the largest rank k with
// p_(k) <= k/m·alpha and every p-value up to it. NaN p-values are never
// significant and do not count in m.
func BenjaminiHochberg(ps []float64, alpha float64) []bool {
	idx := make([]int, 0, len(ps))
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	m := float64(len(idx))
	k := -1
	for r, i := range idx {
		if ps[i] <= float64(r+1)/m*alpha {
			k = r
		}
	}
	out := make([]bool, len(ps))
	for r := 0; r <= k; r++ {
		out[idx[r]] = true
	}
	return out
}

// NormalQuantile is the inverse of the standard normal CDF.
func NormalQuantile(p float64) float64 {
	if p <= 0 || p >= 1 {
		return math.NaN()
	}
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// NormalSurvival2 is the two-sided p-value of a standard normal statistic z.
func NormalSurvival2(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }

func clamp01(x float64) float64 { return math.Min(1, math.Max(0, x)) }
