package ingest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

// ttlRE finds a TTL on the event time as system.tables shows it: the
// migrations' (toDateTime(event_time) + toIntervalDay(N)) and what an
// operator's ALTER TABLE … MODIFY TTL event_time + INTERVAL N DAY (or
// WEEK, HOUR, MONTH) becomes.
var ttlRE = regexp.MustCompile(`(?:\bTTL |, )(?:toDateTime\(event_time\)|event_time) \+ toInterval(Hour|Day|Week|Month)\((\d+)\)`)

// parseTTL returns the days a table's TTL keeps a row, from its
// engine_full; has says whether it has a TTL at all, so that one in
// another form can be told from none. A month counts 28 days: a row the
// TTL may drop is rejected (to the DLQ) rather than lost.
func parseTTL(engine string) (days retention, has bool) {
	has = strings.Contains(engine, " TTL ")
	var g []string
	for _, m := range ttlRE.FindAllStringSubmatchIndex(engine, -1) {
		// Not a TTL that moves or recompresses rows: they stay.
		rest := engine[m[1]:]
		if strings.HasPrefix(rest, " TO ") || strings.HasPrefix(rest, " RECOMPRESS") || strings.HasPrefix(rest, " GROUP BY") {
			continue
		}
		g = []string{engine[m[0]:m[1]], engine[m[2]:m[3]], engine[m[4]:m[5]]}
		break
	}
	if g == nil {
		return 0, has
	}
	n, _ := strconv.Atoi(g[2])
	switch g[1] {
	case "Hour":
		n /= 24 // a TTL under a day is not checked
	case "Week":
		n *= 7
	case "Month":
		n *= 28
	}
	return retention(n), true
}

// readRetention reads the TTL of the predictions and outcomes tables (their
// _local tables on a cluster) from system.tables: the TTL the tables were
// migrated with, which the config's prediction_ttl_days may no longer be.
// Retried with policy for up to 30 s; a table whose TTL cannot be read
// gets no check (logged).
func readRetention(ctx context.Context, conn driver.Conn, policy backoff.Policy, log *zap.Logger) map[Kind]retention {
	var out map[Kind]retention
	var unread map[Kind]string
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := backoff.Retry(rctx, policy, func(ctx context.Context) (err error) {
		out, unread, err = queryRetention(ctx, conn)
		return err
	}, nil)
	if err != nil {
		log.Warn("cannot read the tables' TTL; events past it are not rejected", zap.Error(err))
		return map[Kind]retention{}
	}
	for _, k := range []Kind{KindPredictions, KindOutcomes} {
		switch {
		case unread[k] != "":
			warnUnreadTTL(log, k, unread[k])
		case out[k] == 0:
			log.Warn("no TTL found on the table; its events are not checked against one", zap.String("table", k.Table()))
		}
	}
	return out
}

// warnUnreadTTL says that a table's TTL is not one the ingester can check
// events against: rows older than it are dropped by ClickHouse on insert,
// counted as inserted, and never reach the DLQ.
func warnUnreadTTL(log *zap.Logger, k Kind, ttl string) {
	log.Warn("the table's TTL is not one the ingester checks events against (a DELETE TTL of event_time + INTERVAL of a day or more: DAY, WEEK, HOUR or MONTH): "+
		"events older than it are dropped by ClickHouse without reaching the DLQ",
		zap.String("table", k.Table()), zap.String("ttl", ttl))
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
// it starts or changes, not at every read). also, if set, runs at each
// tick first: other checks of the database that need no loop of their own.
func (p *Pipeline) refreshRetention(ctx context.Context, interval time.Duration, also func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if also != nil {
			also()
		}
		now, unread, err := queryRetention(ctx, p.ledger.conn)
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
				if unread[k] != "" {
					warnUnreadTTL(p.log, k, unread[k])
				}
			}
		}
	}
}

// queryRetention returns the days each table keeps, and the TTL clause of
// the tables whose TTL it cannot read (no check for them).
func queryRetention(ctx context.Context, conn driver.Conn) (_ map[Kind]retention, unread map[Kind]string, _ error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT name, engine_full FROM system.tables
		WHERE database = currentDatabase() AND name IN ('prediction_logs', 'prediction_logs_local', 'outcomes', 'outcomes_local')`)
	if err != nil {
		return nil, nil, fmt.Errorf("read tables' TTL: %w", err)
	}
	defer rows.Close()
	out, unread := map[Kind]retention{}, map[Kind]string{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return nil, nil, fmt.Errorf("read tables' TTL: %w", err)
		}
		days, has := parseTTL(engine)
		for _, k := range []Kind{KindPredictions, KindOutcomes} {
			if name == k.Table() || name == k.Table()+"_local" {
				out[k] = days
				if has && days == 0 {
					unread[k] = engine[strings.Index(engine, " TTL ")+1:]
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read tables' TTL: %w", err)
	}
	return out, unread, nil
}
