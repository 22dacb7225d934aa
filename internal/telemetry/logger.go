package telemetry

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/predlog/predlog/internal/config"
)

// NewLogger builds the process logger writing to stderr: JSON, or
// human-readable console output when cfg.Format is "console", or "auto" and
// stderr is a terminal.
func NewLogger(cfg config.Log) (*zap.Logger, error) {
	return newLogger(cfg, zapcore.Lock(os.Stderr), isTerminal(os.Stderr))
}

func newLogger(cfg config.Log, w zapcore.WriteSyncer, terminal bool) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	var enc zapcore.Encoder
	switch cfg.Format {
	case config.LogFormatJSON:
		enc = zapcore.NewJSONEncoder(jsonEncoderConfig())
	case config.LogFormatConsole:
		enc = zapcore.NewConsoleEncoder(consoleEncoderConfig(terminal))
	case config.LogFormatAuto, "":
		if terminal {
			enc = zapcore.NewConsoleEncoder(consoleEncoderConfig(true))
		} else {
			enc = zapcore.NewJSONEncoder(jsonEncoderConfig())
		}
	default:
		return nil, fmt.Errorf("log format %q: want json, console or auto", cfg.Format)
	}
	core := zapcore.NewCore(enc, w, level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(w), zap.AddStacktrace(zapcore.DPanicLevel)), nil
}

func jsonEncoderConfig() zapcore.EncoderConfig {
	c := zap.NewProductionEncoderConfig()
	c.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	c.EncodeDuration = zapcore.StringDurationEncoder
	return c
}

func consoleEncoderConfig(color bool) zapcore.EncoderConfig {
	c := zap.NewDevelopmentEncoderConfig()
	// The date too: time fields (a backfill's range) share this encoder.
	c.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05.000Z07:00")
	c.EncodeDuration = zapcore.StringDurationEncoder
	if color {
		c.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	return c
}

// isTerminal reports whether f is a character device (a TTY), which is good
// enough to choose between console and JSON output without a terminal library.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Component returns log tagged with component=name; every long-lived
// component logs through one of these.
func Component(log *zap.Logger, name string) *zap.Logger {
	if log == nil {
		return zap.NewNop()
	}
	return log.With(zap.String("component", name))
}
