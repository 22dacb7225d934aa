package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Progress prints the runner's progress: in a terminal one line rewritten in
// place ("\r") every second, otherwise a plain line every Interval.
type Progress struct {
	Out      io.Writer
	Terminal bool
	// Interval between plain lines; default 10s (1s in a terminal).
	Interval time.Duration
	Snapshot func() Snapshot
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Run prints until ctx is done, then prints the final line.
func (p *Progress) Run(ctx context.Context) error {
	every := p.Interval
	if p.Terminal {
		every = time.Second
	} else if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var prev Snapshot
	for {
		select {
		case <-ctx.Done():
			s := p.Snapshot()
			p.print(s, prev, true)
			return nil
		case <-t.C:
			s := p.Snapshot()
			p.print(s, prev, false)
			prev = s
		}
	}
}

func (p *Progress) print(s, prev Snapshot, final bool) {
	line := FormatLine(s, prev, final)
	if p.Terminal {
		// \x1b[K clears what a longer previous line left behind.
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.Out, "\r%s\x1b[K%s", line, end)
		return
	}
	fmt.Fprintln(p.Out, line)
}

// FormatLine renders one progress line; the rate is over the interval since
// prev, or the average for the final line.
func FormatLine(s, prev Snapshot, final bool) string {
	var rate float64
	if d := (s.Elapsed - prev.Elapsed).Seconds(); d > 0 && !final {
		rate = float64(s.Predictions-prev.Predictions) / d
	} else if s.Elapsed > 0 {
		rate = float64(s.Predictions) / s.Elapsed.Seconds()
	}
	line := fmt.Sprintf("rate %s/s  sent %s predictions, %s outcomes (%s)  errors %s  elapsed %s",
		group(int64(rate)), group(s.Predictions), group(s.Outcomes), bytesIEC(s.Bytes), group(s.Errors),
		s.Elapsed.Round(time.Second))
	if !s.SimTime.IsZero() {
		line += "  sim " + s.SimTime.Format("2006-01-02 15:04:05")
		if s.Drifting {
			line += " (drifting)"
		}
	}
	if final {
		line += "  done"
	}
	return line
}

// group formats n with thousands separators: 1234567 → "1,234,567".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
