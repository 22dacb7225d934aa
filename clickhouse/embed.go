// Package chsql embeds the ClickHouse SQL that ships inside the daemons: the
// numbered schema migrations applied by internal/schema and the
// aggregator's query templates used by internal/aggregate.
package chsql

import (
	"embed"
	"io/fs"
)

// FS holds migrations/NNNN_name.sql.
//
//go:embed migrations/*.sql
var FS embed.FS

// Queries holds queries/name.sql: the aggregator's query templates
// (text/template; {db} stands for the database, {name:Type} are ClickHouse
// query parameters bound at execution).
//
//go:embed queries/*.sql queries/*.tmpl
var Queries embed.FS

// Migrations returns the migration files with the directory stripped, so
// "0001_init.sql" is at the root: the layout schema.Render expects.
func Migrations() fs.FS {
	sub, err := fs.Sub(FS, "migrations")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "migrations" is valid.
		panic(err)
	}
	return sub
}
