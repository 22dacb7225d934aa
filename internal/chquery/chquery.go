// Package chquery runs one SQL statement over ClickHouse's HTTP interface
// and returns its text output, for the harnesses, reports and tests that
// need no driver. Values travel as bound parameters (Params: "param_x" for
// {x:Type}), never spliced into the SQL.
package chquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBody bounds what a statement may return; its callers read small
// answers (counts, a few thousand rows).
const maxBody = 256 << 20

// Target is a ClickHouse HTTP endpoint and the database to use.
type Target struct {
	URL      string // http://host:8123
	Database string // "" for the server's default
	User     string // sent in headers, never in the URL
	Password string
	Client   *http.Client // nil means http.DefaultClient
}

// Run executes sql with params (URL parameters such as param_x or
// settings) and returns the body, or an error carrying ClickHouse's message.
func (t Target) Run(ctx context.Context, sql string, params url.Values) (string, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	if t.Database != "" {
		q.Set("database", t.Database)
	}
	u := strings.TrimRight(t.URL, "/") + "/"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	// Neither error quotes the URL: a password in it with an unencoded
	// '?', '#' or '/' would print (url.Error redacts only a password it
	// recognised as one), and an '@' after the host is the rest of one
	// (the request would go to a host named by part of it).
	pu, err := url.Parse(t.URL)
	if err == nil && MisplacedAt(pu) {
		err = errors.New("misplaced '@'")
	}
	var req *http.Request
	if err == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	}
	if err != nil {
		return "", errors.New("invalid ClickHouse URL: want http(s)://host:port; percent-encode special characters of a user or password in it")
	}
	if t.User != "" {
		req.Header.Set("X-ClickHouse-User", t.User)
		req.Header.Set("X-ClickHouse-Key", t.Password)
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return "", fmt.Errorf("clickhouse: %s: %w", ue.Op, ue.Err)
		}
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// MisplacedAt reports an '@' that url.Parse did not take for the end of
// the userinfo of a ClickHouse URL or DSN: a password with an unencoded
// '#', '?' or '/' puts the rest of itself in the fragment, the query or
// the path, where it would print as given ("http://bob:12#s3cret@host",
// "http://bob:12?c=s3cret@host"; also "http://bob:p@ss#s3cret@host", whose
// userinfo ends at the first '@'). Such a URL has no fragment and no '@'
// in its path; in the query one is written %40 (user=bob%40corp), so a
// literal one is refused. Without "//" after the scheme there is no
// userinfo at all ("bob:s3cret@host" parses as scheme "bob"): an '@' in
// the opaque part ends a password too.
func MisplacedAt(u *url.URL) bool {
	return strings.ContainsRune(u.Fragment, '@') || strings.ContainsRune(u.Path, '@') || strings.ContainsRune(u.RawQuery, '@') ||
		strings.ContainsRune(u.Opaque, '@')
}

// Param renders a string as a query parameter value. ClickHouse reads
// parameter values in its escaped text format, so a backslash would
// otherwise start an escape sequence (and a tab end the value): escaping
// makes every string match literally.
func Param(v string) string {
	if !strings.ContainsFunc(v, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ShortURLError returns err with the query string of the URL of a
// *url.Error in its chain left out of its message (errors.Is and As still
// see the original). Over HTTP the driver sends a statement's bound
// parameters in the URL, and its transport errors (a cancelled context, a
// refused connection) repeat the whole URL: kilobytes of window lists, and
// user values that have no place in a log line.
func ShortURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	i := strings.IndexByte(ue.URL, '?')
	if i < 0 {
		return err
	}
	return &shortURLError{msg: strings.ReplaceAll(err.Error(), ue.URL, ue.URL[:i]+"?…"), err: err}
}

type shortURLError struct {
	msg string
	err error
}

func (e *shortURLError) Error() string { return e.msg }
func (e *shortURLError) Unwrap() error { return e.err }
