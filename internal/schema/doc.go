// Package schema renders and applies the ClickHouse migrations in
// clickhouse/migrations, and lets the daemons refuse to run against an older
// schema.
//
// # Migrations
//
// Files are NNNN_name.sql, applied in version order. Each holds single-node
// DDL separated by ';' and uses the placeholders {db} (the database; every
// object is written {db}.name) and {prediction_ttl_days} (also as
// {prediction_ttl_seconds}, for engine arguments that must be literals).
// Statements are split outside string literals, quoted identifiers and
// comments, and run one per request. Applied files are recorded in {db}.schema_migrations
// with the sha256 of the file as written, so a file changed after it was
// applied is an error (ErrChecksumMismatch), whatever Options it is rendered
// with.
//
// # Cluster rendering
//
// With Options.Cluster set, the same files are rewritten statement by
// statement. This is not a SQL parser: a small lexer finds keywords and
// {db}.name references outside literals and comments, and edits replace
// whole tokens, so everything else is emitted as written. Statements it does
// not understand are an error in cluster mode rather than passed through.
//
//   - Every CREATE, ALTER and DROP gets ON CLUSTER '<cluster>'.
//   - A table with a *MergeTree engine is sharded: it is created as
//     <name>_local with Replicated<Engine>('/clickhouse/tables/{shard}/{database}/{table}',
//     '{replica}', <original args>), and a Distributed('<cluster>', '<db>',
//     '<name>_local', <key>) table takes the original name, created AS the
//     local one. The daemons therefore use the same table names in both
//     modes: inserts and reads go through the Distributed table.
//   - This applies to every MergeTree table: facts (prediction_logs,
//     outcomes), aggregator output (prediction_stats_1m, performance_metrics,
//     drift_metrics, ab_results) and dimensions (models, training_jobs,
//     feature_importance, feature_baselines) alike. Dimensions are small, so
//     reading them through a Distributed table costs little, and one rule
//     needs no per-table list to keep in step with the files. The price: a
//     query joining two of these tables must say GLOBAL JOIN / GLOBAL IN on a
//     cluster (a no-op on a single node), so readers should write it so.
//   - The sharding key is cityHash64(<ORDER BY columns>) for MergeTree and
//     for engines that collapse rows with equal sorting keys (Replacing,
//     Collapsing, VersionedCollapsing): merges never cross shards, so with
//     random sharding a resent row could land beside, not over, its older
//     version; and a retried insert (same rows, same deduplication token)
//     must split into the same per-shard blocks for each shard to drop its
//     copy. Aggregating tables keep rand(): their partial states are merged
//     by GROUP BY at read time anyway. The ingester inserts with
//     distributed_foreground_insert=1 on a cluster.
//   - SETTINGS non_replicated_deduplication_window is dropped: replicated
//     tables deduplicate inserted blocks by default
//     (replicated_deduplication_window).
//   - A materialized view must write TO {db}.target; the target becomes
//     <target>_local, and the table it reads (the first {db}.name after FROM,
//     descending into a subquery) becomes <source>_local: it fires on each
//     shard for the rows the Distributed table forwarded there. Other tables
//     it names (joins, IN) keep the Distributed name so they are read whole.
//   - ALTER TABLE of a sharded table alters <name>_local; column commands
//     (ADD/DROP/MODIFY/RENAME/COMMENT COLUMN) are repeated on the
//     Distributed table, after the local one for additions, before it for
//     drops. DROP TABLE drops both. OPTIMIZE and TRUNCATE act on
//     <name>_local.
//   - Tables with other engines (Null, Memory, ...), views and dictionaries
//     only get ON CLUSTER.
//   - schema_migrations itself is rendered the same way, so every node
//     reads one history through its Distributed table.
//   - A file with the line "-- predlog: single-node only" renders to no
//     statement (and is recorded as applied): for what a cluster cannot do
//     the same way, e.g. rebuilding a table under its name with RENAME,
//     which neither the Distributed table's sharding key nor an
//     asynchronous Distributed insert would survive.
//
// The single-node rendering only substitutes placeholders; both renderings
// check what they can (qualified names, a written-out ENGINE, no
// Replicated/Distributed engines in the files, ALTERs of known tables), so a
// file that would not render for a cluster fails its golden test early.
package schema
