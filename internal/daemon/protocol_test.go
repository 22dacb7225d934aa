package daemon

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/config"
)

// TestNativeDSNOnHTTPPort: a clickhouse:// DSN pointing at an HTTP port
// failed with clickhouse-go's "[handshake] unexpected packet [72] from
// server" alone; the error now says which DSN to write.
func TestNativeDSNOnHTTPPort(t *testing.T) {
	// An HTTP server's answer to bytes that are no HTTP request (what
	// ClickHouse's HTTP port sends the native hello).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			_ = c.Close()
		}
	}()
	s := Schema{Daemon: "ingester", ClickHouse: config.ClickHouse{
		DSN: config.DSN("clickhouse://" + ln.Addr().String()), Database: "predlog",
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.RunCLI(ctx, "status", io.Discard)
	require.Error(t, err)
	require.Contains(t, err.Error(), "unexpected packet")
	require.Contains(t, err.Error(), "write http://host:8123 for HTTP")
}

// TestSchemaCommandErrorNamesCommand: an error of `ingester migrate
// status` began "ingester status:", a command that does not exist.
func TestSchemaCommandErrorNamesCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: every command fails
	for cmd, want := range map[string]string{"status": "ingester migrate status: ", "check": "ingester migrate check: ", "migrate": "ingester migrate: "} {
		s := Schema{Daemon: "ingester", ClickHouse: config.ClickHouse{
			DSN: config.DSN("http://" + addr), Database: "predlog", DialTimeout: time.Second, ReadTimeout: time.Second,
		}}
		err := s.RunCLI(context.Background(), cmd, io.Discard)
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), want), "%s: %v", cmd, err)
	}
}
