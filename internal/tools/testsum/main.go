// Command testsum reads `go test -json` on stdin, prints the output of every
// failed test and the package results, and closes with one line
// "N passed, N failed, N skipped". It exits non-zero when anything failed or
// nothing ran, so scripts need not parse its output.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var (
		passed, failed, skipped int
		outputs                 = map[string][]string{} // package/test -> output lines
		pkgLines                []string
		failedPkgs              []string
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintf(out, "%s\n", line) // build errors arrive as plain text
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			outputs[key] = append(outputs[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				pkgLines = append(pkgLines, fmt.Sprintf("%-4s %s (%.1fs)", strings.ToUpper(e.Action), e.Package, e.Elapsed))
				if e.Action == "fail" {
					failedPkgs = append(failedPkgs, e.Package)
					fmt.Fprint(out, strings.Join(outputs[key], ""))
				}
				delete(outputs, key)
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "fail":
				failed++
				if !strings.Contains(e.Test, "/") {
					fmt.Fprintf(out, "--- FAIL: %s %s\n%s", e.Package, e.Test, strings.Join(outputs[key], ""))
				}
			case "skip":
				skipped++
			}
			delete(outputs, key)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Strings(pkgLines)
	fmt.Fprintln(out, strings.Join(pkgLines, "\n"))
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	switch {
	case failed > 0 || len(failedPkgs) > 0:
		return fmt.Errorf("failed packages: %s", strings.Join(failedPkgs, " "))
	case passed == 0:
		return fmt.Errorf("no test ran")
	}
	return nil
}
