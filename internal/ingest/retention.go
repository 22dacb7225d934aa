package ingest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/pkg/events"
)

// retention is how long a table keeps a row by its event time, in days; 0
// is no limit (or none known).
type retention int

// retentionMargin: rows within this of the TTL are rejected too, since the
// insert lands later than the batch's ingest time (and a replay later
// still), and the TTL would drop them soon after anyway.
const retentionMargin = int64(3600 * 1000)

// check rejects an event time the table's TTL would drop at ingestMs.
func (d retention) check(eventMs, ingestMs int64) error {
	if d > 0 && eventMs+int64(d)*24*3600*1000-retentionMargin <= ingestMs {
		return &events.ValidationError{Code: events.CodeInvalidTime, Field: "event_time",
			Msg: fmt.Sprintf("older than the %d days the table keeps (its TTL, clickhouse.prediction_ttl_days when migrated)", int(d))}
	}
	return nil
}

// ttlRE finds the TTL the migrations render into prediction_logs and
// outcomes, as system.tables shows it.
var ttlRE = regexp.MustCompile(`TTL toDateTime\(event_time\) \+ toIntervalDay\((\d+)\)`)

// readRetention reads the TTL of the predictions and outcomes tables (their
// _local tables on a cluster) from system.tables: the TTL the tables were
// migrated with, which the config's prediction_ttl_days may no longer be.
// Retried with policy for up to 30 s; a table whose TTL cannot be read
// gets no check (logged).
func readRetention(ctx context.Context, conn driver.Conn, policy backoff.Policy, log *zap.Logger) map[Kind]retention {
	var out map[Kind]retention
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := backoff.Retry(rctx, policy, func(ctx context.Context) (err error) {
		out, err = queryRetention(ctx, conn)
		return err
	}, nil)
	if err != nil {
		log.Warn("cannot read the tables' TTL; events past it are not rejected", zap.Error(err))
		return map[Kind]retention{}
	}
	for _, k := range []Kind{KindPredictions, KindOutcomes} {
		if out[k] == 0 {
			log.Warn("no TTL found on the table; its events are not checked against one", zap.String("table", k.Table()))
		}
	}
	return out
}

// ttl returns the TTL of kind's table as last read (0 before Run).
func (p *Pipeline) ttl(k Kind) retention {
	if m := p.retention.Load(); m != nil {
		return (*m)[k]
	}
	return 0
}

// refreshRetention reads the tables' TTL every interval until ctx is done,
// so that a TTL changed on a running system applies to the batches that
// start after (a failed read keeps the last one; a failure is logged when
// it starts or changes, not at every read).
func (p *Pipeline) refreshRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := queryRetention(ctx, p.ledger.conn)
		if err != nil {
			if ctx.Err() == nil && err.Error() != failing {
				failing = err.Error()
				p.log.Warn("cannot read the tables' TTL again; checking events against the last one read", zap.Error(err))
			}
			continue
		}
		if failing != "" {
			failing = ""
			p.log.Info("read the tables' TTL again")
		}
		old := p.retention.Swap(&now)
		for _, k := range []Kind{KindPredictions, KindOutcomes} {
			if was := (*old)[k]; now[k] != was {
				p.log.Info("table TTL changed", zap.String("table", k.Table()), zap.Int("days_before", int(was)), zap.Int("days", int(now[k])))
			}
		}
	}
}

func queryRetention(ctx context.Context, conn driver.Conn) (map[Kind]retention, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT name, engine_full FROM system.tables
		WHERE database = currentDatabase() AND name IN ('prediction_logs', 'prediction_logs_local', 'outcomes', 'outcomes_local')`)
	if err != nil {
		return nil, fmt.Errorf("read tables' TTL: %w", err)
	}
	defer rows.Close()
	out := map[Kind]retention{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return nil, fmt.Errorf("read tables' TTL: %w", err)
		}
		g := ttlRE.FindStringSubmatch(engine)
		if g == nil {
			continue
		}
		days, _ := strconv.Atoi(g[1])
		for _, k := range []Kind{KindPredictions, KindOutcomes} {
			if name == k.Table() || name == k.Table()+"_local" {
				out[k] = retention(days)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tables' TTL: %w", err)
	}
	return out, nil
}
