package schema

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
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
	tables := []struct{ name, column string }{{"prediction_logs", "toDateTime(event_time)"}, {"outcomes", "toDateTime(event_time)"}}
	var drift string
	for _, t := range tables {
		name := t.name
		if m.opt.Cluster != "" {
			name += "_local"
		}
		var engine string
		rows, err := m.conn.Query(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", m.opt.Database, name)
		if err != nil {
			return "", fmt.Errorf("read the TTL of %s: %w", name, err)
		}
		if rows.Next() {
			err = rows.Scan(&engine)
		}
		rows.Close()
		if err != nil {
			return "", fmt.Errorf("read the TTL of %s: %w", name, err)
		}
		sm := ttlDays.FindStringSubmatch(engine)
		if sm == nil {
			continue
		}
		if days, _ := strconv.Atoi(sm[1]); days != m.opt.PredictionTTLDays {
			drift += fmt.Sprintf("note: %s.%s keeps rows %d days (its TTL, set when the table was created), not clickhouse.prediction_ttl_days = %d: "+
				"migrate does not change a TTL; to change it, run ALTER TABLE %s.%s%s MODIFY TTL %s + INTERVAL %d DAY\n",
				m.opt.Database, name, days, m.opt.PredictionTTLDays, m.opt.Database, name, m.opt.onCluster(), t.column, m.opt.PredictionTTLDays)
		}
	}
	return drift, nil
}
