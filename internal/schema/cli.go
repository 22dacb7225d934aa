package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ErrUsage reports an unknown RunCLI command.
var ErrUsage = errors.New("usage")

// CLIUsage describes the RunCLI commands, for the daemons' help text.
const CLIUsage = `migrate   apply pending schema migrations (creates the database if missing)
status    list migrations: applied, pending, changed or unknown
check     exit non-zero unless the schema is up to date (and not newer)
render    print the DDL for the configured mode without connecting`

// RunCLI runs the schema command args[0] (see CLIUsage) and writes its
// report to out. conn is not used by render and may then be nil; see New
// for which database it should be opened on.
func RunCLI(ctx context.Context, args []string, conn driver.Conn, opt Options, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: want one command of:\n%s", ErrUsage, CLIUsage)
	}
	m := New(conn, opt, nil)
	switch args[0] {
	case "migrate":
		done, err := m.Apply(ctx)
		for _, mg := range done {
			fmt.Fprintf(out, "applied %s (%d %s)\n", mg.File, len(mg.Statements), map[bool]string{true: "statement", false: "statements"}[len(mg.Statements) == 1])
		}
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintf(out, "database %s is up to date\n", m.opt.Database)
		}
		drift, err := m.TTLDrift(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(out, drift)
		return nil
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT\tMODE")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			mode := s.Mode
			if mode == "" {
				mode = "-"
			}
			fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\t%s\n", s.Version, s.Name, s.State, at, mode)
		}
		return tw.Flush()
	case "check":
		// Strict, unlike the daemons' Check: a database a newer release
		// migrated is not "up to date" for this one, as Apply says.
		if err := m.check(ctx, true); err != nil {
			return err
		}
		fmt.Fprintf(out, "database %s is up to date\n", m.opt.Database)
		return nil
	case "render":
		migs, err := m.Migrations()
		if err != nil {
			return err
		}
		return writeSQL(out, append([]Migration{bootstrap(m.opt)}, migs...))
	default:
		return fmt.Errorf("%w: unknown command %q, want one of:\n%s", ErrUsage, args[0], CLIUsage)
	}
}

// writeSQL writes migrations as a SQL script: the golden-file format, and
// what render prints for a DBA to review.
func writeSQL(w io.Writer, migs []Migration) error {
	var b strings.Builder
	for _, mg := range migs {
		if mg.Checksum == "" {
			fmt.Fprintf(&b, "-- %s\n\n", mg.File)
		} else {
			fmt.Fprintf(&b, "-- %s sha256:%s\n\n", mg.File, mg.Checksum)
		}
		for _, st := range mg.Statements {
			b.WriteString(st)
			b.WriteString(";\n\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
