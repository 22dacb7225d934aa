package aggregate

import "math"

// welchFromSums is Welch's t-test of latency, control c against variant v,
// from counts, means and sums of squares, in welchTTest's layout: [t,
// p-value, CI low, CI high] of mean(control) - mean(variant), then the
// variances of the two means (control, variant) and the Student quantile
// of the interval, which the lift's interval needs. It needs two or more
// predictions on each side, both sums of squares and a non-zero variance.
func welchFromSums(c, v *abVariant, confidence float64) ([]float64, bool) {
	if c.n < 2 || v.n < 2 || c.latencySq == nil || v.latencySq == nil {
		return nil, false
	}
	nc, nv := float64(c.n), float64(v.n)
	varC, varV := sampleVar(*c.latencySq, c.latencyAvg, nc), sampleVar(*v.latencySq, v.latencyAvg, nv)
	qc, qv := varC/nc, varV/nv
	se2 := qc + qv
	if !(se2 > 0) || math.IsInf(se2, 0) {
		return nil, false
	}
	se := math.Sqrt(se2)
	diff := c.latencyAvg - v.latencyAvg
	t := diff / se
	df := se2 * se2 / (qc*qc/(nc-1) + qv*qv/(nv-1))
	p := StudentTTwoSided(t, df)
	q := StudentTQuantile(1-(1-confidence)/2, df)
	return []float64{t, p, diff - q*se, diff + q*se, qc, qv, q}, true
}

// liftInterval is the interval of the lift v/c - 1 by the delta method,
// from the variances of the two estimates and the quantile q: the
// control's own uncertainty widens it (dividing the difference's interval
// by c treats c as exact, ~93 % coverage for a nominal 95 % at equal
// traffic). Its lower bound is no lower than -1, which a ratio of rates or
// means cannot go below.
func liftInterval(v, c, varV, varC, q float64) (lo, hi float64) {
	lift := v/c - 1
	se := math.Sqrt(varV/(c*c) + v*v*varC/(c*c*c*c))
	return max(lift-q*se, -1), lift + q*se
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
