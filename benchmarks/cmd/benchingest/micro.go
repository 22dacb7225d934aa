package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// MicroResult is one Go benchmark line.
type MicroResult struct {
	Package    string             `json:"package"`
	Name       string             `json:"name"` // without the -GOMAXPROCS suffix
	Procs      int                `json:"procs"`
	Iterations int64              `json:"iterations"`
	Metrics    map[string]float64 `json:"metrics"` // unit → value: ns/op, B/op, allocs/op, MB/s, custom
}

var microPackages = []string{"./pkg/events/", "./internal/chwriter/"}

// runMicro runs the packages' benchmarks (no tests), echoing the output.
func runMicro(ctx context.Context, root string) ([]MicroResult, error) {
	return goBench(ctx, root, append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}, microPackages...))
}

// runAggregator runs the aggregator's benchmarks once: the cycle over an
// hour of 10M predictions, and a steady-state cycle's reads with a week of
// history; they start their own devstack (internal/testenv).
func runAggregator(ctx context.Context, root string) ([]MicroResult, error) {
	return goBench(ctx, root, []string{"test", "-run", "^$", "-bench", "^Benchmark(Hour|History)$", "-benchtime", "1x", "-timeout", "20m", "./internal/aggregate/"})
}

func goBench(ctx context.Context, root string, args []string) ([]MicroResult, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res, perr := parseBench(io.TeeReader(out, os.Stdout))
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return res, perr
}

// parseBench reads `go test -bench` output: "pkg: …" lines name the package
// of the Benchmark lines that follow.
func parseBench(r io.Reader) ([]MicroResult, error) {
	var res []MicroResult
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark's own log line
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		m := MicroResult{Package: pkg, Name: f[0], Procs: 1, Iterations: iters, Metrics: map[string]float64{}}
		if i := strings.LastIndexByte(f[0], '-'); i > 0 {
			if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
				m.Name, m.Procs = f[0][:i], p
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", line, err)
			}
			m.Metrics[f[i+1]] = v
		}
		res = append(res, m)
	}
	return res, sc.Err()
}
