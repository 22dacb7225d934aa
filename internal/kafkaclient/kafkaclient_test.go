package kafkaclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/predlog/predlog/internal/config"
)

const password = "hunter2-s3cret"

func TestMechanism(t *testing.T) {
	tests := []struct {
		name      string
		give      config.SASL
		wantName  string // "" means no mechanism
		wantStart string // prefix of the first client message
	}{
		{"none", config.SASL{}, "", ""},
		{"plain", config.SASL{Mechanism: "PLAIN", Username: "alice", Password: password}, "PLAIN", "\x00alice\x00" + password},
		{"plain lower case", config.SASL{Mechanism: "plain", Username: "alice", Password: password}, "PLAIN", "\x00alice\x00"},
		{"scram 256", config.SASL{Mechanism: "SCRAM-SHA-256", Username: "alice", Password: password}, "SCRAM-SHA-256", "n,,n=alice,r="},
		{"scram 512", config.SASL{Mechanism: "scram-sha-512", Username: "alice", Password: password}, "SCRAM-SHA-512", "n,,n=alice,r="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Mechanism(tt.give)
			if err != nil {
				t.Fatalf("Mechanism: %v", err)
			}
			if tt.wantName == "" {
				if m != nil {
					t.Fatalf("Mechanism = %v, want nil", m)
				}
				return
			}
			if m == nil || m.Name() != tt.wantName {
				t.Fatalf("Mechanism = %v, want %s", m, tt.wantName)
			}
			_, first, err := m.Start(context.Background())
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if !bytes.HasPrefix(first, []byte(tt.wantStart)) {
				t.Errorf("first message %q, want prefix %q", first, tt.wantStart)
			}
		})
	}
}

func TestMechanismErrors(t *testing.T) {
	tests := []struct {
		name    string
		give    config.SASL
		wantKey string
	}{
		{"unknown mechanism", config.SASL{Mechanism: "GSSAPI", Username: "a", Password: password}, "kafka.sasl.mechanism"},
		{"username without mechanism", config.SASL{Username: "a"}, "kafka.sasl.username"},
		{"plain no username", config.SASL{Mechanism: "PLAIN", Password: password}, "kafka.sasl.username"},
		{"plain no password", config.SASL{Mechanism: "PLAIN", Username: "a"}, "kafka.sasl.password"},
		{"scram no password", config.SASL{Mechanism: "SCRAM-SHA-256", Username: "a"}, "kafka.sasl.password"},
		// U+0007 is prohibited by SASLprep; xdg-go/scram's error would quote the password.
		{"scram bad password", config.SASL{Mechanism: "SCRAM-SHA-512", Username: "a", Password: password + "\a"}, "kafka.sasl.password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Mechanism(tt.give)
			if err == nil {
				t.Fatalf("Mechanism = %v, want error", m)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q leaks the password", err)
			}
			// Both constructors report the same error.
			if _, derr := Dialer(config.Kafka{SASL: tt.give}); derr == nil || derr.Error() != err.Error() {
				t.Errorf("Dialer error = %v, want %v", derr, err)
			}
			if _, terr := Transport(config.Kafka{SASL: tt.give}); terr == nil || terr.Error() != err.Error() {
				t.Errorf("Transport error = %v, want %v", terr, err)
			}
		})
	}
}

// TestNoSecretInOutput prints the clients every way a log line might.
func TestNoSecretInOutput(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cfg := config.Kafka{SASL: config.SASL{Mechanism: mech, Username: "alice", Password: password}}
			d, err := Dialer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Transport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.DebugLevel)
			zap.New(core).Info("clients", zap.Any("dialer", d), zap.Any("transport", tr), zap.Any("mech", d.SASLMechanism))
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				out = append(out, fmt.Sprintf(verb, d), fmt.Sprintf(verb, tr), fmt.Sprintf(verb, *d), fmt.Sprintf(verb, d.SASLMechanism))
			}
			for _, e := range logs.All() {
				out = append(out, fmt.Sprint(e.ContextMap()))
			}
			for _, s := range out {
				if strings.Contains(s, password) {
					t.Errorf("output leaks the password: %s", s)
				}
			}
			if got, want := fmt.Sprintf("%+v", d.SASLMechanism), mech+"(user=alice)"; got != want {
				t.Errorf("mechanism prints %q, want %q", got, want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		give    config.TLS
		wantTLS bool
		wantErr string // substring; "" means success
	}{
		{"off", config.TLS{}, false, ""},
		{"enabled", config.TLS{Enabled: true, ServerName: "kafka.example"}, true, ""},
		{"missing ca file", config.TLS{CAFile: filepath.Join(dir, "nope.pem")}, false, "kafka.tls: read ca_file"},
		{"ca not pem", config.TLS{CAFile: notPEM}, false, "kafka.tls: ca_file"},
		{"bad key pair", config.TLS{CertFile: notPEM, KeyFile: notPEM}, false, "kafka.tls: load client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Kafka{TLS: tt.give}
			d, derr := Dialer(cfg)
			tr, terr := Transport(cfg)
			if tt.wantErr != "" {
				for _, err := range []error{derr, terr} {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
					}
				}
				return
			}
			if derr != nil || terr != nil {
				t.Fatalf("Dialer: %v, Transport: %v", derr, terr)
			}
			if (d.TLS != nil) != tt.wantTLS || (tr.TLS != nil) != tt.wantTLS {
				t.Fatalf("TLS on: dialer %v, transport %v; want %v", d.TLS != nil, tr.TLS != nil, tt.wantTLS)
			}
			if !tt.wantTLS {
				return
			}
			if d.TLS == tr.TLS {
				t.Error("Dialer and Transport share a *tls.Config")
			}
			for _, c := range []*tls.Config{d.TLS, tr.TLS} {
				if c.ServerName != tt.give.ServerName || c.MinVersion < tls.VersionTLS12 {
					t.Errorf("tls.Config ServerName %q MinVersion %x, want %q and >= TLS 1.2", c.ServerName, c.MinVersion, tt.give.ServerName)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d, err := Dialer(config.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Transport(config.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientID != ClientID || tr.ClientID != ClientID || d.Timeout != DialTimeout || tr.DialTimeout != DialTimeout {
		t.Errorf("dialer %q %v, transport %q %v; want %q %v", d.ClientID, d.Timeout, tr.ClientID, tr.DialTimeout, ClientID, DialTimeout)
	}
	if d.SASLMechanism != nil || tr.SASL != nil || d.TLS != nil || tr.TLS != nil {
		t.Error("TLS or SASL set without config")
	}
}
