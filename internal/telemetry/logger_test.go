package telemetry

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/predlog/predlog/internal/config"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name     string
		give     config.Log
		terminal bool
		wantJSON bool
		wantErr  string
	}{
		{name: "json", give: config.Log{Level: "info", Format: "json"}, terminal: true, wantJSON: true},
		{name: "console", give: config.Log{Level: "info", Format: "console"}, wantJSON: false},
		{name: "auto on a terminal", give: config.Log{Level: "info", Format: "auto"}, terminal: true, wantJSON: false},
		{name: "auto piped", give: config.Log{Level: "info", Format: "auto"}, terminal: false, wantJSON: true},
		{name: "bad level", give: config.Log{Level: "loud", Format: "json"}, wantErr: "log level:"},
		{name: "bad format", give: config.Log{Level: "info", Format: "xml"}, wantErr: `log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(tt.give, zapcore.AddSync(&buf), tt.terminal)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			Component(log, "batcher").Info("hello", zap.Int("rows", 3))
			var m map[string]any
			isJSON := json.Unmarshal(buf.Bytes(), &m) == nil
			assert.Equal(t, tt.wantJSON, isJSON, buf.String())
			assert.Contains(t, buf.String(), "batcher")
			if isJSON {
				assert.Equal(t, "batcher", m["component"])
				assert.Equal(t, "hello", m["msg"])
			}
		})
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(config.Log{Level: "warn", Format: "json"}, zapcore.AddSync(&buf), false)
	require.NoError(t, err)
	log.Info("hidden")
	log.Warn("shown")
	assert.NotContains(t, buf.String(), "hidden")
	assert.Contains(t, buf.String(), "shown")
}

func TestComponentNil(t *testing.T) {
	assert.NotNil(t, Component(nil, "x"))
}
