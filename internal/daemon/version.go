package daemon

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// PrintVersion writes the version of daemon name, the commit it was built
// from and the Go toolchain to out when args ask for it (`version`,
// `--version` or `-version`, alone), and reports whether they did. version
// is the -X main.version of the build ("dev" without one): the commit
// tells a dev build's source. The subcommand with more arguments is an
// error naming the first of them: the flags would otherwise call
// "version" itself the unexpected argument.
func PrintVersion(name, version string, args []string, out io.Writer) (bool, error) {
	if len(args) > 1 && args[0] == "version" {
		return true, fmt.Errorf("%s version: unexpected argument %q; version takes none", name, args[1])
	}
	if len(args) != 1 || args[0] != "version" && args[0] != "--version" && args[0] != "-version" {
		return false, nil
	}
	fmt.Fprintf(out, "%s %s%s %s %s/%s\n", name, version, buildCommit(debug.ReadBuildInfo()), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return true, nil
}

// buildCommit describes the VCS commit recorded in the build, if any:
// " (commit abc1234def56, 2026-11-28T03:50:00Z, modified)".
func buildCommit(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return ""
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	s := " (commit " + rev[:min(12, len(rev))]
	if at != "" {
		s += ", " + at
	}
	if modified {
		s += ", modified"
	}
	return s + ")"
}
