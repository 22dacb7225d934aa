package schema

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ttlDays reads the days of an "INTERVAL n DAY" TTL as the engine shows it.
var ttlDays = regexp.MustCompile(`TTL .*toIntervalDay\((\d+)\)`)

// TTLDrift describes the fact tables whose TTL is not Options.PredictionTTLDays:
// the migrations set it when they create a table, and migrate does not
// change it afterwards, so a prediction_ttl_days changed later in the
// config does nothing until the tables are altered. On a cluster the
// tables are name_local. It returns "" when they agree (or have no such
// TTL: one set by hand in another form is left to its owner).
func (m *Migrator) TTLDrift(ctx context.Context) (string, error) {
	// The fact tables and the column their TTL counts from.
	tables := map[string]string{"prediction_logs": "toDateTime(event_time)", "outcomes": "toDateTime(event_time)"}
	suffix := "" // on a cluster the tables that hold the rows are name_local
	if m.opt.Cluster != "" {
		suffix = "_local"
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t+suffix)
	}
	rows, err := m.conn.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = ? AND name IN ? ORDER BY name",
		m.opt.Database, names)
	if err != nil {
		return "", fmt.Errorf("read the fact tables' TTL: %w", err)
	}
	defer rows.Close()
	var drift string
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return "", fmt.Errorf("read the fact tables' TTL: %w", err)
		}
		sm := ttlDays.FindStringSubmatch(engine)
		if sm == nil {
			continue
		}
		if days, _ := strconv.Atoi(sm[1]); days != m.opt.PredictionTTLDays {
			drift += fmt.Sprintf("note: %s.%s keeps rows %d days (its TTL, set when the table was created), not clickhouse.prediction_ttl_days = %d: "+
				"migrate does not change a TTL; to change it, run ALTER TABLE %s.%s%s MODIFY TTL %s + INTERVAL %d DAY\n",
				m.opt.Database, name, days, m.opt.PredictionTTLDays, m.opt.Database, name, m.opt.onCluster(),
				tables[strings.TrimSuffix(name, suffix)], m.opt.PredictionTTLDays)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read the fact tables' TTL: %w", err)
	}
	return drift, nil
}
