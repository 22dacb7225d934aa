package devstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LibchdbVersion is the libchdb release the devstack is built and tested
// against; scripts/fetch-libchdb.sh installs it under CacheDir.
const LibchdbVersion = "26.7.3-stable.1"

// CacheDir is where fetched artefacts live: $PREDLOG_CACHE_DIR, else
// $XDG_CACHE_HOME/predlog, else ~/.cache/predlog.
func CacheDir() string {
	if d := os.Getenv("PREDLOG_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "predlog")
	}
	return filepath.Join(os.TempDir(), "predlog-cache")
}

// LibchdbPath returns the libchdb.so to load: $PREDLOG_LIBCHDB if set, else
// the pinned version in CacheDir. It fails with the command that fixes it.
func LibchdbPath() (string, error) {
	p := os.Getenv("PREDLOG_LIBCHDB")
	if p == "" {
		p = filepath.Join(CacheDir(), "libchdb-"+LibchdbVersion, "libchdb.so")
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("libchdb not found at %s: run scripts/fetch-libchdb.sh (or make libchdb) first, or set PREDLOG_LIBCHDB", p)
	} else if err != nil {
		return "", fmt.Errorf("libchdb: %w", err)
	}
	return p, nil
}
