package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/predlog/predlog/internal/chquery"
)

// ParsedDSN is a ClickHouse DSN taken apart.
type ParsedDSN struct {
	Scheme   string              // clickhouse, tcp, http or https
	Protocol clickhouse.Protocol // clickhouse.Native or clickhouse.HTTP
	Secure   bool                // https://, or secure=true
	// SkipVerify is skip_verify=true: with Secure and no clickhouse.tls, do not
	// verify the server certificate.
	SkipVerify bool
	Addrs      []string // host:port, default port filled in
	Database   string   // from the path, may be empty
	Username   string
	Password   Secret
	// Settings are the remaining query parameters, passed on to clickhouse-go
	// (compress, max_open_conns, ClickHouse settings, ...).
	Settings url.Values
}

// Parse splits the DSN. clickhouse:// and tcp:// select the native protocol
// (default port 9000, 9440 when secure), http:// and https:// select HTTP
// (8123, 8443). Several hosts are comma-separated.
func (d DSN) Parse() (ParsedDSN, error) {
	var p ParsedDSN
	if !strings.Contains(string(d), "://") {
		return p, errors.New("missing scheme: want clickhouse://host:9000/db or http://host:8123/db")
	}
	u, err := url.Parse(string(d))
	if err != nil {
		// url.Parse quotes the input, which may hold a password.
		return p, errors.New("not a URL")
	}
	if chquery.MisplacedAt(u) {
		return p, errors.New("an '@' after the host: percent-encode special characters (/ ? # @ %) of the user and password")
	}
	p.Scheme = strings.ToLower(u.Scheme)
	switch p.Scheme {
	case "clickhouse", "tcp":
		p.Protocol = clickhouse.Native
	case "http":
		p.Protocol = clickhouse.HTTP
	case "https":
		p.Protocol, p.Secure = clickhouse.HTTP, true
	default:
		return p, fmt.Errorf("unsupported scheme %q: want clickhouse, tcp, http or https", u.Scheme)
	}
	if u.Host == "" {
		return p, errors.New("missing host")
	}
	if u.User != nil {
		p.Username = u.User.Username()
		pw, _ := u.User.Password()
		p.Password = Secret(pw)
	}
	p.Database = strings.Trim(u.Path, "/")
	if strings.Contains(p.Database, "/") {
		return p, fmt.Errorf("path %q: want a single database name", u.Path)
	}
	q := u.Query()
	reserved := []string{"secure", "skip_verify", "username", "password", "database"}
	for k := range q {
		// Password=x is no password to clickhouse-go: it would go to the
		// server as a setting, in the URL of every HTTP request.
		if i := slices.IndexFunc(reserved, func(r string) bool { return strings.EqualFold(r, k) }); i >= 0 && k != reserved[i] {
			return p, fmt.Errorf("DSN parameter %q: write it %q (lower case)", k, reserved[i])
		}
	}
	for _, k := range reserved {
		if !q.Has(k) {
			continue
		}
		v := q.Get(k)
		switch k {
		case "secure", "skip_verify":
			// Anything but these would otherwise read as false: a typo
			// that turns TLS off.
			on, err := strconv.ParseBool(cmp.Or(v, "true"))
			if err != nil {
				return p, fmt.Errorf("%s=%q: want true or false", k, v)
			}
			if k == "secure" {
				p.Secure = on
			} else {
				p.SkipVerify = on
			}
		case "username":
			p.Username = v
		case "password":
			p.Password = Secret(v)
		case "database":
			p.Database = v
		}
		q.Del(k)
	}
	p.Settings = q
	if p.Scheme == "http" && p.Secure {
		return p, errors.New("secure=true with http://: use https://")
	}
	defPort := map[bool]map[clickhouse.Protocol]string{
		false: {clickhouse.Native: "9000", clickhouse.HTTP: "8123"},
		true:  {clickhouse.Native: "9440", clickhouse.HTTP: "8443"},
	}[p.Secure][p.Protocol]
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" {
			return p, errors.New("empty host in host list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
		}
		p.Addrs = append(p.Addrs, h)
	}
	return p, nil
}

// Options returns the clickhouse-go/v2 options for this config: protocol,
// hosts and extra settings from the DSN; user, password and database from the
// config when set, else from the DSN; TLS from clickhouse.tls (or the DSN's
// https/secure with system roots); dial and read timeouts from the config.
func (c ClickHouse) Options() (*clickhouse.Options, error) {
	p, err := c.DSN.Parse()
	if err != nil {
		return nil, fmt.Errorf("clickhouse dsn: %w", err)
	}
	tlsConf, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("clickhouse tls: %w", err)
	}
	if tlsConf == nil && p.Secure {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.SkipVerify} //nolint:gosec // opt-in via DSN
	}

	// Let clickhouse-go interpret the remaining parameters (compress,
	// max_open_conns, dial_timeout, ClickHouse settings, ...). The DSN given to
	// it has no credentials; those are set below. Its scheme must match the
	// protocol: clickhouse-go keeps it and HTTP connections use it as the URL
	// scheme.
	rest := url.URL{Scheme: "clickhouse", Host: strings.Join(p.Addrs, ",")}
	if p.Protocol == clickhouse.HTTP {
		rest.Scheme = "http"
		if tlsConf != nil {
			rest.Scheme = "https"
			p.Settings.Set("secure", "true") // else ParseDSN rejects https; TLS is replaced below
		}
	}
	rest.RawQuery = p.Settings.Encode()
	opts, err := clickhouse.ParseDSN(rest.String())
	if err != nil {
		return nil, fmt.Errorf("clickhouse dsn: %w", err)
	}
	opts.Protocol = p.Protocol
	opts.Addr = p.Addrs

	opts.Auth.Username = firstNonEmpty(c.User, p.Username, "default")
	opts.Auth.Password = firstNonEmpty(c.Password.Reveal(), p.Password.Reveal())
	opts.Auth.Database = firstNonEmpty(c.Database, p.Database, DefaultDatabase)
	opts.TLS = tlsConf
	if c.DialTimeout > 0 {
		opts.DialTimeout = c.DialTimeout
	}
	if c.ReadTimeout > 0 {
		opts.ReadTimeout = c.ReadTimeout
	}
	return opts, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// On reports whether TLS is in use: Enabled, or implied by a CA or client cert.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

// Config builds the *tls.Config, or returns nil when TLS is off.
func (t TLS) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as testing only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", t.CAFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
