package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startDevstack builds cmd/devstack and runs it on free loopback ports with
// a throwaway data directory.
func startDevstack() (*Stack, error) {
	dir, err := os.MkdirTemp("", "predlog-testenv-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "devstack")
	build := exec.Command("go", "build", "-o", bin, "github.com/predlog/predlog/cmd/devstack")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build devstack: %v\n%s", err, out)
	}
	ready := filepath.Join(dir, "ready.json")
	logf, err := os.Create(filepath.Join(dir, "devstack.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin,
		"--kafka.addr", "127.0.0.1:0",
		"--clickhouse.addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"),
		"--ready-file", ready,
		"--log.level", "warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C on `go test` reaches it once, via
	// us, rather than racing our cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start devstack: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		os.RemoveAll(dir)
	}
	deadline := time.After(60 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var r struct {
				Kafka, ClickHouse string
				PID               int
			}
			if err := json.Unmarshal(b, &r); err != nil {
				stop()
				return nil, fmt.Errorf("devstack ready file: %w", err)
			}
			return &Stack{KafkaAddr: r.Kafka, ClickHouseURL: r.ClickHouse, EnginePID: r.PID, stop: stop}, nil
		}
		select {
		case err := <-exited:
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			os.RemoveAll(dir)
			return nil, fmt.Errorf("devstack exited (%v) before it was ready:\n%s", err, out)
		case <-deadline:
			stop()
			return nil, errors.New("devstack not ready after 60s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
