package schema

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	chsql "github.com/predlog/predlog/clickhouse"
)

// firstNoted is the first migration docs/upgrading.md covers; the ones
// before it came with the first releases.
const firstNoted = 14

// TestUpgradeNotes: every migration from firstNoted on has a row in the
// table of docs/upgrading.md (a number, a range "0018–0020" or a list
// "0016, 0017"), so that a new migration comes with its upgrade note.
func TestUpgradeNotes(t *testing.T) {
	md, err := os.ReadFile("../../docs/upgrading.md")
	if err != nil {
		t.Fatal(err)
	}
	noted := notedMigrations(string(md))
	migs, err := Render(chsql.Migrations(), Options{Database: "predlog"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		if m.Version >= firstNoted && !noted[m.Version] {
			t.Errorf("docs/upgrading.md: no row for migration %s: add one (— where it needs nothing)", m.File)
		}
	}
}

var noteRange = regexp.MustCompile(`^(\d{4})(?:–(\d{4}))?$`)

// notedMigrations returns the migrations named in the first column of the
// table rows of md.
func notedMigrations(md string) map[int]bool {
	out := map[int]bool{}
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cell := strings.TrimSpace(strings.Split(line, "|")[1])
		for _, part := range strings.Split(cell, ",") {
			m := noteRange.FindStringSubmatch(strings.TrimSpace(part))
			if m == nil {
				continue
			}
			from, _ := strconv.Atoi(m[1])
			to := from
			if m[2] != "" {
				to, _ = strconv.Atoi(m[2])
			}
			for v := from; v <= to; v++ {
				out[v] = true
			}
		}
	}
	return out
}

func TestNotedMigrations(t *testing.T) {
	md := "| release | x |\n|---|---|\n| 0026 | a |\n| after 0025 (no migration) | b |\n| 0018–0020 | c |\n| 0016, 0017 | d |\ntext 0030\n"
	got := notedMigrations(md)
	for _, v := range []int{16, 17, 18, 19, 20, 26} {
		if !got[v] {
			t.Errorf("migration %d not found", v)
		}
	}
	for _, v := range []int{21, 25, 30} {
		if got[v] {
			t.Errorf("migration %d found, but no row names it", v)
		}
	}
}
