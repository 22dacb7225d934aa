package config

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Redacted returns a copy whose secrets hold "[REDACTED]" instead of their
// value (so even Reveal on the copy leaks nothing) and whose DSN has its
// password masked.
func (c IngesterConfig) Redacted() IngesterConfig {
	c.Kafka.Brokers = append([]string(nil), c.Kafka.Brokers...)
	c.Kafka.SASL.Password = Secret(c.Kafka.SASL.Password.String())
	c.ClickHouse = c.ClickHouse.redacted()
	return c
}

// Redacted returns a copy without secrets; see IngesterConfig.Redacted.
func (c AggregatorConfig) Redacted() AggregatorConfig {
	c.ClickHouse = c.ClickHouse.redacted()
	c.Windows.Granularities = append(c.Windows.Granularities[:0:0], c.Windows.Granularities...)
	c.Slices.MetadataKeys = append([]string(nil), c.Slices.MetadataKeys...)
	return c
}

func (c ClickHouse) redacted() ClickHouse {
	c.Password = Secret(c.Password.String())
	c.DSN = DSN(c.DSN.String())
	return c
}

// LogFields returns the effective config as one zap field "config" holding a
// flat key → value object, e.g. "batch.max_age": "500ms"; secrets redacted.
func (c IngesterConfig) LogFields() []zap.Field {
	b := newBinder()
	c.bind(b)
	return []zap.Field{zap.Object("config", pairs(logPairs(b)))}
}

// LogFields returns the effective config; see IngesterConfig.LogFields.
func (c AggregatorConfig) LogFields() []zap.Field {
	b := newBinder()
	c.bind(b)
	return []zap.Field{zap.Object("config", pairs(logPairs(b)))}
}

type pairs [][2]string

func (p pairs) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, kv := range p {
		enc.AddString(kv[0], kv[1])
	}
	return nil
}
