package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: no config file, environment value or flag value panics
// either daemon's loader; each is a config or a clear error. The seeds
// are the shipped configs and values of every kind of setting.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"ingester.yaml", "aggregator.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "configs", name)); err == nil {
			f.Add(string(b), "", "")
		}
	}
	f.Add("batch:\n  max_bytes: 1.5MiB\n", "PREDLOG_WINDOWS_GRANULARITIES", "1m,1h,1d")
	f.Add("windows:\n  label_horizon: 3651d\n", "PREDLOG_SCHEDULE_INTERVAL", "-1s")
	f.Add("kafka:\n  brokers: [':0']\n", "PREDLOG_CLICKHOUSE_DSN", "clickhouse://u:p@h:9000/db?x=%zz")
	f.Add("ab:\n  experiments:\n    e: {split: {a: 1e308, b: -1}}\n", "PREDLOG_DRIFT_MODELS", "{")
	f.Add("&a [*a]", "PREDLOG_BATCH_MAX_AGE", "9223372036854775807ns")
	f.Fuzz(func(t *testing.T, yml, envKey, envValue string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		env := envMap(map[string]string{envKey: envValue})
		args := []string{"--config", path}
		if _, err := LoadIngester(args, env, &bytes.Buffer{}); err == nil {
			// A loaded config is valid: loading it again from the same
			// inputs gives no error either.
			if _, err := LoadIngester(args, env, &bytes.Buffer{}); err != nil {
				t.Fatalf("second load failed: %v", err)
			}
		}
		_, _ = LoadAggregator(args, env, &bytes.Buffer{})
		_, _ = LoadAggregator([]string{"--" + FlagName("windows.label_horizon"), envValue}, envMap(nil), &bytes.Buffer{})
	})
}
