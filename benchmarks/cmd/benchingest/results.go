package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result is one run of the harness, benchmarks/results/<stamp>.json.
type Result struct {
	Started    string           `json:"started"`
	Seconds    float64          `json:"seconds"`
	Seed       uint64           `json:"seed"`
	Machine    Machine          `json:"machine"`
	Go         string           `json:"go"`
	Commit     string           `json:"commit"`
	Note       string           `json:"note,omitempty"`
	Micro      []MicroResult    `json:"micro,omitempty"`
	Ingest     *IngestResult    `json:"ingest,omitempty"`
	Freshness  *FreshnessResult `json:"freshness,omitempty"`
	Aggregator []MicroResult    `json:"aggregator,omitempty"`

	file string // base name, when read back
}

// Machine describes where the run happened.
type Machine struct {
	CPU     string  `json:"cpu"`
	Cores   int     `json:"cores"`
	MemGiB  float64 `json:"mem_gib"`
	LoadAvg string  `json:"load_avg_at_start"` // 1, 5, 15 minutes
}

// Placeholder marks a step that does not exist yet.

func machineInfo() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemGiB = float64(int(kb/(1<<20)*10)) / 10
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func gitCommit(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func stampOf(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

func (r *Result) write(dir string, start time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, stampOf(start)+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// Summary is the human-readable digest printed at the end of a run.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n== predlog benchmarks, %s, commit %s, %s (%d cores, %.1f GiB), %s ==\n",
		r.Started, r.Commit, r.Machine.CPU, r.Machine.Cores, r.Machine.MemGiB, r.Go)
	if r.Note != "" {
		fmt.Fprintf(&b, "note: %s (load average at start %s)\n", r.Note, r.Machine.LoadAvg)
	}
	if len(r.Micro) > 0 {
		b.WriteString("\nmicro-benchmarks:\n")
		for _, m := range r.Micro {
			fmt.Fprintf(&b, "  %-62s %12.0f ns/op %10.0f B/op %6.0f allocs/op", m.Name, m.Metrics["ns/op"], m.Metrics["B/op"], m.Metrics["allocs/op"])
			if v, ok := m.Metrics["ns/row"]; ok {
				fmt.Fprintf(&b, " %8.1f ns/row", v)
			}
			if v, ok := m.Metrics["MB/s"]; ok {
				fmt.Fprintf(&b, " %8.1f MB/s", v)
			}
			b.WriteByte('\n')
		}
	}
	if in := r.Ingest; in != nil {
		fmt.Fprintf(&b, "\ningest throughput (%d messages of %d bytes, %d partitions, produced at %.0f/s):\n", in.Rows, in.MessageBytes, in.Partitions, in.ProducePerSec)
		for _, run := range in.Runs {
			fmt.Fprintf(&b, "  %d instance(s): %8.0f rows/s steady, %8.0f rows/s over %.1fs wall (incl. startup), %6.1f ingester CPU s per 1M rows, peak RSS %.0f MiB, devstack CPU %.1fs\n",
				run.Instances, run.RowsPerSec, run.WallRowsPerSec, run.WallSeconds, run.CPUSecondsPerMillion, run.PeakRSSMiB, run.DevstackCPUSeconds)
		}
		if in.ProfileTopFile != "" {
			fmt.Fprintf(&b, "  CPU profile (1 instance): %s, top 15 in %s\n", in.ProfileFile, in.ProfileTopFile)
		}
	}
	if f := r.Freshness; f != nil {
		fmt.Fprintf(&b, "\nfreshness (event time → visible; polled every %d ms):\n", f.PollIntervalMs)
		for _, run := range f.Runs {
			fmt.Fprintf(&b, "  %6d/s target (%.0f/s achieved): ingester histogram p50 %.3fs p99 %.3fs; ClickHouse poll p50 %.3fs p99 %.3fs max %.3fs (%d/%d samples)\n",
				run.TargetRate, run.AchievedRate, run.MetricP50, run.MetricP99, run.PolledP50, run.PolledP99, run.PolledMax, run.Found, run.Samples)
		}
	}
	for _, a := range r.Aggregator {
		fmt.Fprintf(&b, "\naggregator %s: %s\n", a.Name, aggFigures(a))
	}
	return b.String()
}

const (
	markerStart = "<!-- results:start -->"
	markerEnd   = "<!-- results:end -->"
)

// refreshReadme rewrites the part of the README between the markers from
// every result file in dir, newest first.
func refreshReadme(readme, dir string) error {
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	results, err := readResults(dir)
	if err != nil {
		return err
	}
	out, err := replaceBetween(string(b), markerStart, markerEnd, resultsTable(results))
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, []byte(out), 0o644)
}

func readResults(dir string) ([]*Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	slices.Reverse(files)
	var rs []*Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := &Result{file: filepath.Base(f)}
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func replaceBetween(s, start, end, body string) (string, error) {
	i := strings.Index(s, start)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return "", errors.New("results markers not found")
	}
	return s[:i+len(start)] + "\n" + body + s[j:], nil
}

// resultsTable renders the throughput and freshness tables.
func resultsTable(rs []*Result) string {
	var b strings.Builder
	b.WriteString("\nIngest throughput (one devstack, N pre-produced 824-byte prediction logs, 8 partitions; CPU is the ingester processes' alone):\n\n")
	b.WriteString("| run | commit | machine | rows | instances | rows/s steady | rows/s incl. startup | ingester CPU s / 1M rows | peak RSS MiB | devstack CPU s |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		if r.Ingest == nil {
			continue
		}
		for _, run := range r.Ingest.Runs {
			fmt.Fprintf(&b, "| %s | %s | %d× %s | %d | %d | %.0f | %.0f | %.1f | %.0f | %.1f |\n",
				r.file, r.Commit, r.Machine.Cores, shortCPU(r.Machine.CPU), r.Ingest.Rows, run.Instances,
				run.RowsPerSec, run.WallRowsPerSec, run.CPUSecondsPerMillion, run.PeakRSSMiB, run.DevstackCPUSeconds)
		}
	}
	b.WriteString("\nFreshness (event time → committed, from the ingester's histogram; event time → found by polling ClickHouse):\n\n")
	b.WriteString("| run | commit | target/s | achieved/s | histogram p50 s | histogram p99 s | polled p50 s | polled p99 s | samples seen |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		if r.Freshness == nil {
			continue
		}
		for _, run := range r.Freshness.Runs {
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %d/%d |\n",
				r.file, r.Commit, run.TargetRate, run.AchievedRate, run.MetricP50, run.MetricP99,
				run.PolledP50, run.PolledP99, run.Found, run.Samples)
		}
	}
	b.WriteString("\nAggregator (BenchmarkHour: one cycle over 10,000,000 prediction rows, 20 models × 20 features; BenchmarkHistory: a steady-state cycle's outputs with a week of states; in the devstack's embedded ClickHouse, internal/aggregate):\n\n")
	b.WriteString("| run | commit | benchmark | figures |\n|---|---|---|---|\n")
	for _, r := range rs {
		for _, a := range r.Aggregator {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.file, r.Commit, a.Name, aggFigures(a))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// aggFigures lists a benchmark's custom metrics (seconds per step), sorted.
func aggFigures(a MicroResult) string {
	var parts []string
	for unit, v := range a.Metrics {
		if unit == "ns/op" || unit == "B/op" || unit == "allocs/op" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%.2f %s", v, unit))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func shortCPU(s string) string {
	for _, w := range []string{"(R)", "(TM)", " CPU", " Processor"} {
		s = strings.ReplaceAll(s, w, "")
	}
	if i := strings.Index(s, " @"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
