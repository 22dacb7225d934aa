package daemon

import (
	"context"
	"io"
	"net"
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
	defer ln.Close()
	go func() {
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
