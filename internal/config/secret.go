package config

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"

	"github.com/predlog/predlog/internal/chquery"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[REDACTED]"

// Secret is a string that never prints itself: String, GoString, JSON, YAML,
// slog and zap (through fmt.Stringer) all show "[REDACTED]", or "" when unset
// so an operator can still tell "not configured" from "configured".
// Use Reveal to get the value for the one place that needs it.
type Secret string

// Reveal returns the secret value. Call it only where the value is used
// (building a client), never for logging.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString covers %#v.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalJSON covers encoding/json and zap's reflection encoder.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML covers yaml.v3 (decoding still reads the plain string).
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue covers log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// DSN is a ClickHouse data source name, e.g. "http://127.0.0.1:8123/predlog".
// It may carry a password (in the userinfo or a password= parameter), so it
// prints with the password replaced; use string(d) or Parse to read it.
type DSN string

func (d DSN) String() string { return redactDSN(string(d)) }

// GoString covers %#v.
func (d DSN) GoString() string { return `config.DSN("` + d.String() + `")` }

// MarshalJSON covers encoding/json and zap's reflection encoder.
func (d DSN) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML covers yaml.v3.
func (d DSN) MarshalYAML() (any, error) { return d.String(), nil }

// LogValue covers log/slog.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

func redactDSN(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		if !strings.Contains(s, "@") && !strings.Contains(strings.ToLower(s), "password") {
			return s // nowhere a password could hide
		}
		// Cannot tell where a password would be: print nothing of it.
		return redacted
	}
	if chquery.MisplacedAt(u) {
		return redacted
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			vs[i] = RedactParam(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RedactParam is the value of DSN parameter k as it may be printed: masked
// when k names a password, a URL's password masked (http_proxy=), else v.
// The daemons print a setting ClickHouse refuses with it.
func RedactParam(k, v string) string {
	if strings.Contains(strings.ToLower(k), "password") {
		return "xxxxx"
	}
	return redactURLValue(v)
}

// redactURLValue masks the password of a URL given as a DSN parameter:
// clickhouse-go takes a proxy from http_proxy=, and a proxy's credentials
// are its userinfo. Other values are returned as they are.
func redactURLValue(v string) string {
	if !strings.Contains(v, "://") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || chquery.MisplacedAt(u) {
		if !strings.Contains(v, "@") {
			return v
		}
		return "xxxxx" // cannot tell where a password would end
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return v
}
