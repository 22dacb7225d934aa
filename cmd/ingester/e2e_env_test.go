package main

// Helpers of the end-to-end tests (e2e_test.go): the ingester binary run as
// a subprocess, per-test databases, topics and consumer groups, a paced
// producer, and the checks (drained offsets, exact row counts, /metrics).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/faultproxy"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// ingesterBinary builds the ingester once per test binary. It goes to a
// fixed path per checkout (under the OS temp dir, not the repository), built
// under a temporary name and renamed, so concurrent test runs never execute
// a half-written file.
func ingesterBinary(t *testing.T) string {
	t.Helper()
	e2eBuild.once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			e2eBuild.err = err
			return
		}
		sum := sha256.Sum256([]byte(wd))
		dir := filepath.Join(os.TempDir(), "predlog-e2e-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e2eBuild.err = err
			return
		}
		bin := filepath.Join(dir, "ingester")
		tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
		t0 := time.Now()
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/predlog/predlog/cmd/ingester").CombinedOutput()
		if err != nil {
			e2eBuild.err = fmt.Errorf("build ingester: %v\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, bin); err != nil {
			e2eBuild.err = err
			return
		}
		e2eBuild.path = bin
		t.Logf("built %s in %s", bin, time.Since(t0).Round(time.Millisecond))
	})
	if e2eBuild.err != nil {
		t.Fatal(e2eBuild.err)
	}
	return e2eBuild.path
}

var e2eBuild struct {
	once sync.Once
	path string
	err  error
}

// e2eEnv is one test's database (migrated by the binary), topics and
// consumer group.
type e2eEnv struct {
	st         *testenv.Stack
	bin        string
	db         string
	group      string
	topic      string // predictions
	partitions int
	others     []string // the other five input topics, one partition each
	dlq        string
	// transport is the env's own: kafka-go's DefaultTransport caches topic
	// metadata across tests, and misses topics created after a deletion.
	transport *kafka.Transport
	client    *kafka.Client
}

func newE2E(t *testing.T, partitions int) *e2eEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	st := testenv.Get(t)
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e := &e2eEnv{st: st, bin: ingesterBinary(t), db: st.Database(t), partitions: partitions, transport: tr,
		client: &kafka.Client{Addr: kafka.TCP(st.KafkaAddr), Timeout: 30 * time.Second, Transport: tr}}
	e.group = "e2e-" + e.db
	e.topic = st.Topic(t, partitions)
	for range 5 {
		e.others = append(e.others, st.Topic(t, 1))
	}
	e.dlq = st.Topic(t, 1)
	t.Cleanup(func() {
		// The broker keeps every record in memory: give it back.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = e.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: append([]string{e.topic, e.dlq}, e.others...)})
	})
	out, err := exec.Command(e.bin, append([]string{"migrate"}, e.chFlags(st.ClickHouseURL)...)...).CombinedOutput()
	require.NoError(t, err, "migrate: %s", out)
	return e
}

// faultProxy returns a fault-injecting proxy in front of the devstack's
// ClickHouse, closed when the test ends.
func (e *e2eEnv) faultProxy(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	u, err := url.Parse(e.st.ClickHouseURL)
	require.NoError(t, err)
	px, err := faultproxy.New(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = px.Close() })
	return px
}

func (e *e2eEnv) chFlags(dsn string) []string {
	f := []string{"--clickhouse.dsn", dsn, "--clickhouse.database", e.db}
	if e.st.ClickHouseUser != "" {
		f = append(f, "--clickhouse.user", e.st.ClickHouseUser, "--clickhouse.password", e.st.ClickHousePassword)
	}
	return f
}

// flags are the daemon's flags for this env, ClickHouse at dsn.
func (e *e2eEnv) flags(dsn string) []string {
	f := append(e.chFlags(dsn),
		"--kafka.brokers", e.st.KafkaAddr,
		"--kafka.group-id", e.group,
		"--kafka.topics.predictions", e.topic,
		"--kafka.topics.outcomes", e.others[0],
		"--kafka.topics.models", e.others[1],
		"--kafka.topics.training-jobs", e.others[2],
		"--kafka.topics.feature-importance", e.others[3],
		"--kafka.topics.feature-baselines", e.others[4],
		"--kafka.topics.dlq", e.dlq,
		"--log.level", "info", "--log.format", "json",
		"--retry.initial", "50ms", "--retry.max", "1s",
		"--batch.max-age", "200ms",
	)
	return f
}

// proc is one ingester subprocess.
type proc struct {
	t    *testing.T
	name string
	addr string // ops listener
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited and was reaped
	err  error         // Wait's result, set before done is closed
}

// start runs the ingester against ClickHouse at dsn (default: direct) with
// extra flags overriding the env's. It does not wait for readiness.
func (e *e2eEnv) start(t *testing.T, name, dsn string, extra ...string) *proc {
	t.Helper()
	if dsn == "" {
		dsn = e.st.ClickHouseURL
	}
	p := &proc{t: t, name: name, addr: freeAddr(t), done: make(chan struct{})}
	p.log = filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(p.log)
	require.NoError(t, err)
	args := append(e.flags(dsn), "--http.listen", p.addr)
	p.cmd = exec.Command(e.bin, append(args, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.dumpLog(40)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits for /readyz to answer 200.
func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	var body string
	require.Eventually(p.t, func() bool {
		if p.exited() {
			p.dumpLog(40)
			p.t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		}
		var code int
		code, body = get(p.t, "http://"+p.addr+"/readyz")
		return code == 200
	}, timeout, 50*time.Millisecond, "%s not ready: %s", p.name, body)
}

// kill sends SIGKILL and reaps the process.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and requires a clean exit within timeout.
func (p *proc) stop(timeout time.Duration) time.Duration {
	p.t.Helper()
	t0 := time.Now()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not stop within %s after SIGTERM", p.name, timeout)
	}
	if p.err != nil {
		p.dumpLog(40)
		p.t.Fatalf("%s exited with %v after SIGTERM", p.name, p.err)
	}
	return time.Since(t0)
}

func (p *proc) dumpLog(lines int) {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	all = all[max(0, len(all)-lines):]
	p.t.Logf("last %d log lines of %s:\n%s", len(all), p.name, strings.Join(all, "\n"))
}

// metrics scrapes /metrics: series ("name{labels}") -> value.
func (p *proc) metrics() (map[string]float64, error) {
	code, body := get(p.t, "http://"+p.addr+"/metrics")
	if code != 200 {
		return nil, fmt.Errorf("%s /metrics: %d %s", p.name, code, body)
	}
	return parseMetrics(body), nil
}

// metric returns the sum of every series of name, failing the test if
// /metrics cannot be read.
func (p *proc) metric(name string) float64 {
	p.t.Helper()
	m, err := p.metrics()
	require.NoError(p.t, err)
	return sumMetric(m, name)
}

func parseMetrics(body string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

func sumMetric(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// seriesOf returns the series of name.
func seriesOf(m map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			out[k] = v
		}
	}
	return out
}

// memory reads VmRSS and VmHWM (bytes) from /proc/PID/status.
func (p *proc) memory() (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// producer writes generated prediction logs to the predictions topic.
type producer struct {
	n    int     // messages
	rate float64 // messages per second; 0: as fast as possible
	seed uint64
	// workers writing concurrently, each with its own generator; default 2.
	workers int
}

// produce writes p.n recent prediction logs, round-robin over the
// partitions, from p.workers goroutines, each with its own generator and
// writer. It returns the achieved rate.
func (e *e2eEnv) produce(ctx context.Context, p producer) (float64, error) {
	// Full batches per partition of 8. A 5,000-message batch compresses to
	// more than the broker's 1 MiB max.message.bytes; 2,000 fit.
	const chunk = 16_000
	if p.workers <= 0 {
		p.workers = 2
	}
	var claimed atomic.Int64
	t0 := time.Now()
	start := t0.Add(-time.Hour)
	errs := make(chan error, p.workers)
	for w := range p.workers {
		go func() {
			errs <- func() error {
				wr := &kafka.Writer{
					Addr: kafka.TCP(e.st.KafkaAddr), Topic: e.topic, Balancer: &kafka.RoundRobin{},
					BatchSize: 2000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond,
					Compression: kafka.Lz4, RequiredAcks: kafka.RequireAll, Transport: e.transport,
					// No retries, and time enough for a loaded machine: a
					// write retried after its timeout may have been stored
					// already, and its duplicates would read as the
					// ingester's (4,000 extra rows seen at load average 46).
					MaxAttempts: 1, WriteTimeout: 2 * time.Minute,
				}
				defer wr.Close()
				// Workers' event times interleave; request ids are random.
				gen := eventstest.New(p.seed*1000+uint64(w), eventstest.Config{Start: start, Step: time.Millisecond})
				msgs := make([]kafka.Message, 0, chunk)
				var arena []byte
				for {
					from := claimed.Add(chunk) - chunk
					if from >= int64(p.n) {
						return nil
					}
					k := min(int64(chunk), int64(p.n)-from)
					arena, msgs = arena[:0], msgs[:0]
					offs := make([]int, 0, k+1)
					for range k {
						offs = append(offs, len(arena))
						arena = gen.AppendPrediction(arena)
					}
					offs = append(offs, len(arena))
					for i := range k {
						msgs = append(msgs, kafka.Message{Value: arena[offs[i]:offs[i+1]]})
					}
					if p.rate > 0 {
						at := t0.Add(time.Duration(float64(from) / p.rate * float64(time.Second)))
						select {
						case <-time.After(time.Until(at)):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					if err := wr.WriteMessages(ctx, msgs...); err != nil {
						var we kafka.WriteErrors
						if errors.As(err, &we) {
							for _, e := range we {
								if e != nil {
									err = fmt.Errorf("%d of %d failed, first: %w", we.Count(), len(we), e)
									break
								}
							}
						}
						return fmt.Errorf("write %d messages: %w", len(msgs), err)
					}
				}
			}()
		}()
	}
	var err error
	for range p.workers {
		err = errors.Join(err, <-errs)
	}
	return float64(p.n) / time.Since(t0).Seconds(), err
}

// produceAsync runs produce in the background; the channel receives its
// error.
func (e *e2eEnv) produceAsync(t *testing.T, p producer) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		rate, err := e.produce(ctx, p)
		if err == nil {
			t.Logf("produced %d messages at %.0f msg/s", p.n, rate)
		}
		done <- err
	}()
	t.Cleanup(cancel)
	return done
}

// offsets returns the group's committed offsets and the end offsets of the
// predictions topic, by partition.
func (e *e2eEnv) offsets(ctx context.Context) (committed, end map[int]int64, err error) {
	parts := make([]int, e.partitions)
	reqs := make([]kafka.OffsetRequest, e.partitions)
	for i := range parts {
		parts[i] = i
		reqs[i] = kafka.LastOffsetOf(i)
	}
	of, err := e.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.group, Topics: map[string][]int{e.topic: parts}})
	if err != nil {
		return nil, nil, err
	}
	if of.Error != nil {
		return nil, nil, of.Error
	}
	committed = map[int]int64{}
	for _, p := range of.Topics[e.topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		committed[p.Partition] = p.CommittedOffset
	}
	lo, err := e.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{e.topic: reqs}})
	if err != nil {
		return nil, nil, err
	}
	end = map[int]int64{}
	for _, p := range lo.Topics[e.topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		end[p.Partition] = p.LastOffset
	}
	return committed, end, nil
}

// waitDrained waits until the group has committed every message of the
// predictions topic (at least want in all), logging progress every 10s.
func (e *e2eEnv) waitDrained(t *testing.T, want int64, timeout time.Duration) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(timeout)
	lastLog := t0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		committed, end, err := e.offsets(ctx)
		cancel()
		var c, n int64
		done := err == nil
		for p, o := range end {
			n += o
			c += max(committed[p], 0)
			done = done && committed[p] == o
		}
		if done && n >= want {
			t.Logf("drained %d messages %s after waiting", n, time.Since(t0).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained after %s: committed %d of %d (err %v): %v / %v", timeout, c, n, err, committed, end)
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			t.Logf("draining: committed %d of %d", c, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// query returns the single number sql yields in the env's database.
func (e *e2eEnv) query(t *testing.T, sql string) int64 {
	t.Helper()
	out := strings.TrimSpace(e.st.Exec(t, e.db, sql))
	n, err := strconv.ParseInt(out, 10, 64)
	require.NoError(t, err, "%s: %q", sql, out)
	return n
}

// requireExactlyOnce checks that prediction_logs holds want rows with want
// distinct request ids.
func (e *e2eEnv) requireExactlyOnce(t *testing.T, want int64) {
	t.Helper()
	rows := e.query(t, "SELECT count() FROM prediction_logs")
	distinct := e.query(t, "SELECT uniqExact(request_id) FROM prediction_logs")
	t.Logf("prediction_logs: %d rows, %d distinct request ids (want %d)", rows, distinct, want)
	require.Equal(t, want, distinct, "distinct request ids: lost messages")
	require.Equal(t, want, rows, "rows: duplicates")
}

// evictMembers removes every member of the group. After a SIGKILL the dead
// member would stay in the group until its 30s session timeout (the
// ingester has no setting for it), and the restarted instance's join would
// wait for it; evicting it as an operator would keeps the test short. The
// dead process can no longer commit, so this changes nothing about what is
// under test.
func (e *e2eEnv) evictMembers(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dg, err := e.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{e.group}})
	require.NoError(t, err)
	var members []kafka.LeaveGroupRequestMember
	for _, g := range dg.Groups {
		for _, m := range g.Members {
			members = append(members, kafka.LeaveGroupRequestMember{ID: m.MemberID})
		}
	}
	if len(members) == 0 {
		return 0
	}
	_, err = e.client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: e.group, Members: members})
	require.NoError(t, err)
	return len(members)
}

// mib formats bytes in MiB.
func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
