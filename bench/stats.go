package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary is one measured run of one side of a scenario.
type Summary struct {
	// OK counts 2xx responses that completed inside the measuring window.
	OK int
	// Errors counts transport failures and non-2xx responses in the window.
	// A run with errors is suspect: a fast error inflates nothing (its
	// latency is not recorded) but it means the server was not doing the
	// work being measured.
	Errors int
	// FirstError describes one error, to tell a misconfiguration from load.
	FirstError string
	Elapsed    time.Duration
	P50, P99   time.Duration
	Max        time.Duration
	// Rounds is the requests per second of each round, in order.
	Rounds []float64
}

// RPS is successful requests per second over the measuring window.
func (s Summary) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest sample that at least p% of the samples do not exceed.
// Nearest rank never interpolates, so a p99 is always a latency some request
// actually had. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// window is the raw record of one or more measuring windows on one side.
type window struct {
	lat      []time.Duration // latencies of successful requests, unsorted
	errs     int
	firstErr string
	elapsed  time.Duration
	rounds   []float64 // rps of each window added, in order
}

// add appends another window's record, for a side measured in rounds.
func (w *window) add(o window) {
	if o.elapsed > 0 {
		w.rounds = append(w.rounds, float64(len(o.lat))/o.elapsed.Seconds())
	}
	w.lat = append(w.lat, o.lat...)
	w.errs += o.errs
	if w.firstErr == "" {
		w.firstErr = o.firstErr
	}
	w.elapsed += o.elapsed
}

// summarize sorts the latencies once and reads the percentiles. Exact
// percentiles from a sorted slice cost 8 bytes per request, a few MB for a
// long run, which is cheaper to trust than a histogram's bucket error.
func (w window) summarize() Summary {
	sorted := slices.Clone(w.lat)
	slices.Sort(sorted)
	s := Summary{OK: len(sorted), Errors: w.errs, FirstError: w.firstErr, Elapsed: w.elapsed, Rounds: w.rounds}
	if n := len(sorted); n > 0 {
		s.P50 = Percentile(sorted, 50)
		s.P99 = Percentile(sorted, 99)
		s.Max = sorted[n-1]
	}
	return s
}

// fmtDur prints a latency with three significant digits in a unit that
// keeps tables narrow.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
}
