package aggregate

import "math"

// welchResult is Welch's t-test of mean(control) - mean(variant).
type welchResult struct {
	t, p float64
	// varC, varV are the variances of the two means and q the Student
	// quantile at the confidence level: the difference's interval is
	// diff ± q·sqrt(varC + varV), and the lift's is built from them.
	varC, varV, q float64
}

// welchFromSums is Welch's t-test of latency, control c against variant v,
// from counts, means and sums of squares; it equals welchTTest on the raw
// rows. It needs two or more predictions on each side, both sums of
// squares and a non-zero variance.
func welchFromSums(c, v *abVariant, confidence float64) (welchResult, bool) {
	if c.n < 2 || v.n < 2 || c.latencySq == nil || v.latencySq == nil {
		return welchResult{}, false
	}
	nc, nv := float64(c.n), float64(v.n)
	varC, varV := sampleVar(*c.latencySq, c.latencyAvg, nc), sampleVar(*v.latencySq, v.latencyAvg, nv)
	qc, qv := varC/nc, varV/nv
	se2 := qc + qv
	if !(se2 > 0) || math.IsInf(se2, 0) {
		return welchResult{}, false
	}
	t := (c.latencyAvg - v.latencyAvg) / math.Sqrt(se2)
	df := se2 * se2 / (qc*qc/(nc-1) + qv*qv/(nv-1))
	return welchResult{t: t, p: StudentTTwoSided(t, df), varC: qc, varV: qv, q: StudentTQuantile(1-(1-confidence)/2, df)}, true
}

// sampleVar is the sample variance from the sum of squares sq, the mean
// and the count n. sq - n·mean² cancels: constant values leave a rounding
// residue that grows with the n values summed (up to ~n·ε·mean²), which
// would read as a real variance (constant 0.1 ms against constant 0.3 ms
// "significant"), so anything below 64·n·ε·mean² is 0: at 10^8
// predictions a standard deviation under 0.1 % of the mean.
func sampleVar(sq, mean, n float64) float64 {
	const eps = 0x1p-52
	v := (sq - n*mean*mean) / (n - 1)
	if !(v > 64*n*eps*mean*mean) {
		return 0
	}
	return v
}
