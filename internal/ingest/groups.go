package ingest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// otherGroupsWindow is how far back batches of other consumer groups count.
const otherGroupsWindow = 24 * time.Hour

// otherGroups returns the consumer groups other than this one that
// recorded batches of the same topics since since, with their latest.
// Each group cuts its own batches under its own tokens, so two groups
// that consume one topic into one database insert every message twice
// (a group id typo does that without a word).
func (l *ledger) otherGroups(ctx context.Context, topics []string, since time.Time) (map[string]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"group": l.group,
		"since": since.UTC().Format("2006-01-02 15:04:05.000"),
	}))
	rows, err := l.conn.Query(qctx, `SELECT consumer_group, topic, max(created_at) FROM ingest_batches
		WHERE consumer_group != {group:String} AND created_at >= {since:DateTime64(3)}
		GROUP BY consumer_group, topic
		LIMIT 1000`)
	if err != nil {
		return nil, fmt.Errorf("read other consumer groups: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var g, topic string
		var last time.Time
		if err := rows.Scan(&g, &topic, &last); err != nil {
			return nil, fmt.Errorf("read other consumer groups: %w", err)
		}
		if slices.Contains(topics, topic) && last.After(out[g]) {
			out[g] = last
		}
	}
	return out, rows.Err()
}

// warnOtherGroups logs each consumer group other than this one that writes
// the same topics into this database, once (again if it comes back after
// it was gone). Best effort: a failed read is logged at debug.
func (p *Pipeline) warnOtherGroups(ctx context.Context, topics []string, seen map[string]bool) {
	others, err := p.ledger.otherGroups(ctx, topics, time.Now().Add(-otherGroupsWindow))
	if err != nil {
		p.log.Debug("cannot check for other consumer groups", zap.Error(err))
		return
	}
	for g, last := range others {
		if !seen[g] {
			p.log.Warn("another consumer group writes the same topics into this database: each group inserts every message once, "+
				"so the tables hold them twice; keep one group per database (a misspelt kafka.group_id does this)",
				zap.String("group", p.ledger.group), zap.String("other_group", g), zap.Time("other_last_batch", last))
		}
	}
	for g := range seen {
		if _, ok := others[g]; !ok {
			delete(seen, g)
		}
	}
	for g := range others {
		seen[g] = true
	}
}
