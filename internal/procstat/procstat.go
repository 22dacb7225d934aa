// Package procstat reads a live Linux process's CPU time and peak RSS from
// /proc, for benchmarks that measure another process (the devstack, an
// ingester) rather than themselves.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stats are a live process's CPU time and peak RSS.
type Stats struct {
	CPUSeconds float64 // utime + stime
	PeakRSS    int64   // bytes (VmHWM)
}

// Read reads /proc/PID/stat (utime+stime, in USER_HZ = 100 ticks per second
// on Linux) and VmHWM from /proc/PID/status.
func Read(pid int) (Stats, error) {
	var st Stats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	st.CPUSeconds, err = parseStat(b)
	if err != nil {
		return st, err
	}
	sf, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return st, fmt.Errorf("VmHWM: %w", err)
			}
			st.PeakRSS = kb << 10
		}
	}
	return st, sc.Err()
}

// parseStat returns utime+stime in seconds from the text of /proc/PID/stat.
func parseStat(b []byte) (float64, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after the last ")" start at 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14
	sy, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + sy) / 100, nil
}
