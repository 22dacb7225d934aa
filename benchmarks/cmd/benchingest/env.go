package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/predlog/predlog/internal/chquery"
)

// env is the benchmark's world: built binaries and one devstack.
type env struct {
	root     string
	dir      string // work directory
	ingester string // binary, built with the profiling hook
	kafka    string // host:port
	ch       string // http://host:port
	devstack *proc
	keep     bool
}

// profileHook is added to cmd/ingester at build time through `go build
// -overlay`, so the harness can profile a whole run without the ingester
// having a flag for it: with PREDLOG_BENCH_CPUPROFILE set it profiles from
// start until SIGUSR1, then writes <path>.done. The repository is not
// touched. (The ops server's /debug/pprof/, telemetry.ServerOptions.EnablePprof,
// gives windowed profiles once the ingester exposes it.)
const profileHook = `package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("PREDLOG_BENCH_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		<-ch
		pprof.StopCPUProfile()
		_ = f.Close()
		_ = os.WriteFile(path+".done", nil, 0o644)
	}()
}
`

func newEnv(ctx context.Context, root string, o *options) (_ *env, err error) {
	dir, err := os.MkdirTemp("", "predlog-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{root: root, dir: dir, keep: o.keep}
	defer func() {
		if err != nil {
			e.close()
		}
	}()

	logf("building ingester and devstack into %s", dir)
	hook := filepath.Join(dir, "benchprofile.go")
	if err := os.WriteFile(hook, []byte(profileHook), 0o644); err != nil {
		return nil, err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "cmd/ingester/zz_benchingest_profile.go"): hook,
	}})
	overlayPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return nil, err
	}
	e.ingester = filepath.Join(dir, "ingester")
	if err := goCmd(ctx, root, "build", "-overlay", overlayPath, "-o", e.ingester, "./cmd/ingester"); err != nil {
		return nil, err
	}
	devstack := filepath.Join(dir, "devstack")
	if err := goCmd(ctx, root, "build", "-o", devstack, "./cmd/devstack"); err != nil {
		return nil, err
	}

	topics := []string{
		"predlog.predictions:8", "predlog.outcomes:4", "predlog.models:1", "predlog.training-jobs:1",
		"predlog.feature-importance:1", "predlog.feature-baselines:1", "predlog.dlq:4",
	}
	for _, r := range o.freshRates {
		topics = append(topics, freshTopic(r)+":8")
	}
	ready := filepath.Join(dir, "ready.json")
	args := []string{
		"--kafka.addr", "127.0.0.1:0", "--clickhouse.addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--ready-file", ready,
		"--kafka.topics", strings.Join(topics, ","), "--log.level", "warn",
	}
	if o.libchdb != "" {
		args = append(args, "--libchdb", o.libchdb)
	}
	e.devstack, err = startProc(devstack, args, nil, filepath.Join(dir, "devstack.log"))
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, 2*time.Minute, func() (bool, error) {
		if e.devstack.exited() {
			return false, fmt.Errorf("devstack exited before it was ready; see %s", e.devstack.logPath)
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return false, nil
		}
		var r struct{ Kafka, ClickHouse string }
		if err := json.Unmarshal(b, &r); err != nil {
			return false, fmt.Errorf("devstack ready file: %w", err)
		}
		e.kafka, e.ch = r.Kafka, r.ClickHouse
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("start devstack: %w", err)
	}
	logf("devstack kafka=%s clickhouse=%s", e.kafka, e.ch)
	return e, nil
}

func freshTopic(rate int) string { return "bench.freshness." + strconv.Itoa(rate) }

func (e *env) close() {
	if e.devstack != nil {
		e.devstack.stop(60 * time.Second)
	}
	if e.keep {
		logf("kept the work directory %s", e.dir)
		return
	}
	_ = os.RemoveAll(e.dir)
}

// migrate creates database db with the current schema.
func (e *env) migrate(ctx context.Context, db string) error {
	cmd := exec.CommandContext(ctx, e.ingester, "migrate", "--clickhouse.dsn", e.ch, "--clickhouse.database", db, "--log.level", "warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ingester migrate: %w\n%s", err, out)
	}
	return nil
}

// ingesterOpts describes one ingester instance.
type ingesterOpts struct {
	name, db, group, topic string
	cpuProfile             string // path; empty: no profile
}

// startIngester starts one ingester; its ops address is in p.opsAddr.
func (e *env) startIngester(opt ingesterOpts) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kafka.brokers", e.kafka, "--kafka.group-id", opt.group,
		"--clickhouse.dsn", e.ch, "--clickhouse.database", opt.db,
		"--http.listen", "127.0.0.1:" + strconv.Itoa(port), "--log.level", "warn",
	}
	if opt.topic != "" {
		args = append(args, "--kafka.topics.predictions", opt.topic)
	}
	var extraEnv []string
	if opt.cpuProfile != "" {
		extraEnv = append(extraEnv, "PREDLOG_BENCH_CPUPROFILE="+opt.cpuProfile)
	}
	p, err := startProc(e.ingester, args, extraEnv, filepath.Join(e.dir, opt.name+".log"))
	if err != nil {
		return nil, err
	}
	p.name = opt.name
	p.opsAddr = "127.0.0.1:" + strconv.Itoa(port)
	return p, nil
}

// waitReady waits until the ingester's /readyz answers 200.
func waitReady(ctx context.Context, p *proc) error {
	return waitFor(ctx, time.Minute, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %s", p.name, p.logTail())
		}
		resp, err := http.Get("http://" + p.opsAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// query runs sql on ClickHouse and returns the body.
func (e *env) query(ctx context.Context, sql string) (string, error) {
	return chquery.Target{URL: e.ch}.Run(ctx, sql, nil)
}

func (e *env) count(ctx context.Context, db string) (int, error) {
	out, err := e.query(ctx, "SELECT count() FROM "+db+".prediction_logs")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// proc is a subprocess with its log in a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	opsAddr string
	done    chan struct{}
	err     error
}

func startProc(bin string, args, extraEnv []string, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), extraEnv...)
	// Own process group, and killed if the harness dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and kills after timeout.
func (p *proc) stop(timeout time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls cond every 100ms until it is true, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}

func goCmd(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the predlog module")
	}
	return filepath.Dir(mod), nil
}

// scrape fetches the Prometheus text exposition of an ingester.
func scrape(ctx context.Context, opsAddr string) (string, error) {
	u := url.URL{Scheme: "http", Host: opsAddr, Path: "/metrics"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
