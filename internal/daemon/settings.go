package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/predlog/predlog/internal/config"
)

// ErrBadSetting means ClickHouse refuses a setting of clickhouse.dsn: one
// it does not know, or a value it cannot parse (?max_execution_time=abc).
// Every query and insert would fail the same way, so the daemon exits
// naming it rather than retry as if ClickHouse were down.
var ErrBadSetting = errors.New("ClickHouse refuses a setting of clickhouse.dsn")

// Exception codes of a setting ClickHouse refuses: unknown, its value
// unparsable or out of its range, or not to be changed by this user.
var settingCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED: max_threads=abc
	36:  true, // BAD_ARGUMENTS: an enum's or a time zone's value
	69:  true, // ARGUMENT_OUT_OF_BOUND
	70:  true, // CANNOT_CONVERT_TYPE
	72:  true, // CANNOT_PARSE_NUMBER: max_execution_time=abc
	115: true, // UNKNOWN_SETTING
	164: true, // READONLY: a setting the user may not change
	452: true, // SETTING_CONSTRAINT_VIOLATION
	467: true, // CANNOT_PARSE_BOOL
}

func settingRefused(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && settingCodes[ex.Code]
}

// settingsCheck makes the schema gate refuse settings ClickHouse refuses.
// The server's message does not always name the setting ("Cannot read
// floating point value here: abc"), so when the settings together are
// refused, each is tried alone.
type settingsCheck struct {
	// probe runs a query with s on a connection without the DSN's
	// settings (selectOne in the daemons).
	probe    func(ctx context.Context, s clickhouse.Settings) error
	settings clickhouse.Settings
}

// Check returns an error wrapping ErrBadSetting that names the refused
// setting, or what else went wrong (ClickHouse unreachable: retried).
func (c settingsCheck) Check(ctx context.Context) error {
	if len(c.settings) == 0 {
		return nil
	}
	err := c.probe(ctx, c.settings)
	if err == nil || !settingRefused(err) {
		return err
	}
	if bare := c.probe(ctx, nil); bare != nil {
		return err // not the settings
	}
	names := slices.Sorted(maps.Keys(c.settings))
	for _, k := range names {
		one := clickhouse.Settings{k: c.settings[k]}
		switch perr := c.probe(ctx, one); {
		case perr == nil:
		case settingRefused(perr):
			// The value as the config log prints it: a parameter
			// clickhouse-go did not take (HTTP_PROXY=, db_password=) is
			// sent as a setting and may hold a secret.
			return fmt.Errorf("%w: %s=%s: %w", ErrBadSetting, k, config.RedactParam(k, fmt.Sprint(c.settings[k])), perr)
		default:
			return perr
		}
	}
	return fmt.Errorf("%w: %v together: %w", ErrBadSetting, names, err)
}

// selectOne is a settingsCheck probe on conn, which has no settings of its
// own.
func selectOne(conn driver.Conn) func(ctx context.Context, s clickhouse.Settings) error {
	return func(ctx context.Context, s clickhouse.Settings) error {
		if s != nil {
			ctx = clickhouse.Context(ctx, clickhouse.WithSettings(s))
		}
		return conn.Exec(ctx, "SELECT 1")
	}
}

// checks runs its checkers in turn; the first error ends it.
type checks []SchemaChecker

func (cs checks) Check(ctx context.Context) error {
	for _, c := range cs {
		if err := c.Check(ctx); err != nil {
			return err
		}
	}
	return nil
}
