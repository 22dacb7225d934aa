// Package kafkaclient builds kafka-go clients from config.Kafka: a Dialer
// for Readers and consumer groups, a Transport for Writers and kafka.Client,
// both with the configured TLS and SASL.
//
// The SASL password is read (Secret.Reveal) only here, and the mechanism
// handed to kafka-go prints as "PLAIN(user=alice)" under every fmt verb, so
// logging a Dialer or Transport with %+v does not leak it.
package kafkaclient

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/predlog/predlog/internal/config"
)

// ClientID is the client id predlog sends to the brokers (shows up in
// broker logs and quotas).
const ClientID = "predlog"

// DialTimeout bounds a TCP (and TLS, SASL) connection setup.
const DialTimeout = 10 * time.Second

// Dialer returns a dialer for kafka.Reader and consumer groups.
func Dialer(cfg config.Kafka) (*kafka.Dialer, error) {
	tlsConf, mech, err := security(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      ClientID,
		Timeout:       DialTimeout,
		DualStack:     true,
		TLS:           tlsConf,
		SASLMechanism: mech,
	}, nil
}

// Transport returns a transport for kafka.Writer and kafka.Client. Its
// connection pools live until CloseIdleConnections.
func Transport(cfg config.Kafka) (*kafka.Transport, error) {
	tlsConf, mech, err := security(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID:    ClientID,
		DialTimeout: DialTimeout,
		TLS:         tlsConf,
		SASL:        mech,
	}, nil
}

// security builds the TLS config (nil when off) and the SASL mechanism
// (nil when none). Each call returns fresh values: a Dialer and a Transport
// never share a *tls.Config.
func security(cfg config.Kafka) (*tls.Config, sasl.Mechanism, error) {
	tlsConf, err := cfg.TLS.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka.tls: %w", err)
	}
	mech, err := Mechanism(cfg.SASL)
	if err != nil {
		return nil, nil, err
	}
	return tlsConf, mech, nil
}

// Mechanism returns the SASL mechanism s configures, or nil when
// s.Mechanism is empty. The mechanism name is case-insensitive.
func Mechanism(s config.SASL) (sasl.Mechanism, error) {
	name := strings.ToUpper(strings.TrimSpace(s.Mechanism))
	if name == "" {
		if s.Username != "" {
			return nil, fmt.Errorf("invalid kafka.sasl.username: set without kafka.sasl.mechanism")
		}
		return nil, nil
	}
	switch name {
	case config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512:
	default:
		return nil, fmt.Errorf("invalid kafka.sasl.mechanism %q: want %s, %s or %s",
			s.Mechanism, config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512)
	}
	if s.Username == "" {
		return nil, fmt.Errorf("invalid kafka.sasl.username: required with kafka.sasl.mechanism %s", name)
	}
	if s.Password == "" {
		return nil, fmt.Errorf("invalid kafka.sasl.password: required with kafka.sasl.mechanism %s", name)
	}
	var (
		m   sasl.Mechanism
		err error
	)
	switch name {
	case config.SASLPlain:
		m = plain.Mechanism{Username: s.Username, Password: s.Password.Reveal()}
	case config.SASLScramSHA256:
		m, err = scram.Mechanism(scram.SHA256, s.Username, s.Password.Reveal())
	case config.SASLScramSHA512:
		m, err = scram.Mechanism(scram.SHA512, s.Username, s.Password.Reveal())
	}
	if err != nil {
		// Not wrapped: xdg-go/scram quotes the password in its SASLprep errors.
		return nil, fmt.Errorf("invalid kafka.sasl.username or kafka.sasl.password: %s needs both to pass SASLprep (RFC 4013)", name)
	}
	return &redacted{Mechanism: m, user: s.Username}, nil
}

// redacted hides the credentials of the mechanism it wraps from fmt and
// from reflection-based encoders (its fields are unexported).
type redacted struct {
	sasl.Mechanism
	user string
}

// Format prints "NAME(user=USER)" for every verb.
func (r *redacted) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "%s(user=%s)", r.Name(), r.user)
}

// Compile-time check.
var _ sasl.Mechanism = (*redacted)(nil)
