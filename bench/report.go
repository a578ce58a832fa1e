package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one scenario measured on both sides.
type result struct {
	sc            scenario
	broker, limit Summary
}

// rpsRatio is broker/limit requests per second.
func (r result) rpsRatio() float64 {
	if r.limit.RPS() == 0 {
		return 0
	}
	return r.broker.RPS() / r.limit.RPS()
}

// roundRatios is broker/limit requests per second of each pair of rounds
// (a round on each side, measured one after the other), lowest first: how
// far one pair strays from the whole run says how much to trust a ratio
// near its target. Nil for a run of one round.
func (r result) roundRatios() []float64 {
	n := min(len(r.broker.Rounds), len(r.limit.Rounds))
	if n < 2 {
		return nil
	}
	out := make([]float64, 0, n)
	for i := range n {
		if r.limit.Rounds[i] > 0 {
			out = append(out, r.broker.Rounds[i]/r.limit.Rounds[i])
		}
	}
	slices.Sort(out)
	return out
}

// p99Ratio is broker/limit p99 latency.
func (r result) p99Ratio() float64 {
	if r.limit.P99 == 0 {
		return 0
	}
	return float64(r.broker.P99) / float64(r.limit.P99)
}

// check is one target of one scenario and whether the run met it.
type check struct {
	scenario, target string
	value            string
	verdict          string // PASS, MISS or ERRORS
}

// checks evaluates the scenario's targets. A run with errors on either side
// is ERRORS whatever its ratio: a failing request proves nothing about
// throughput.
func (r result) checks() []check {
	verdict := func(ok bool) string {
		switch {
		case r.broker.Errors > 0 || r.limit.Errors > 0:
			return "ERRORS"
		case ok:
			return "PASS"
		default:
			return "MISS"
		}
	}
	value := fmt.Sprintf("%.2f", r.rpsRatio())
	if rs := r.roundRatios(); rs != nil {
		value += fmt.Sprintf(" (rounds %.2f-%.2f)", rs[0], rs[len(rs)-1])
	}
	cs := []check{{
		scenario: r.sc.Name,
		target:   fmt.Sprintf("rps >= %.2f x limit", r.sc.MinRatio),
		value:    value,
		verdict:  verdict(r.rpsRatio() >= r.sc.MinRatio),
	}}
	if r.sc.MaxP99Ratio > 0 {
		cs = append(cs, check{
			scenario: r.sc.Name,
			target:   fmt.Sprintf("p99 < %.2f x limit", r.sc.MaxP99Ratio),
			value:    fmt.Sprintf("%.2f", r.p99Ratio()),
			verdict:  verdict(r.p99Ratio() > 0 && r.p99Ratio() < r.sc.MaxP99Ratio),
		})
	}
	return cs
}

// report is everything printed at the end of a run.
type report struct {
	header  []string // run conditions, one "key: value" per line
	results []result
}

// misses counts the targets not met.
func (rp report) misses() int {
	n := 0
	for _, r := range rp.results {
		for _, c := range r.checks() {
			if c.verdict != "PASS" {
				n++
			}
		}
	}
	return n
}

// tables returns the two tables as rows of cells: the measurements, one row
// per side, then the targets, one row per target.
func (rp report) tables() (measured, targets [][]string) {
	measured = [][]string{{"scenario", "target", "rps", "p50", "p99", "errors"}}
	targets = [][]string{{"scenario", "target", "broker/limit", "result"}}
	for _, r := range rp.results {
		for _, s := range []struct {
			name string
			sum  Summary
		}{{"broker", r.broker}, {"limit", r.limit}} {
			errs := strconv.Itoa(s.sum.Errors)
			if s.sum.Errors > 0 {
				errs += " (first: " + oneLine(s.sum.FirstError) + ")"
			}
			measured = append(measured, []string{r.sc.Name, s.name,
				fmt.Sprintf("%.0f", s.sum.RPS()), fmtDur(s.sum.P50), fmtDur(s.sum.P99), errs})
		}
		for _, c := range r.checks() {
			targets = append(targets, []string{c.scenario, c.target, c.value, c.verdict})
		}
	}
	return measured, targets
}

// writeText prints the report as aligned plain text.
func (rp report) writeText(w io.Writer) error {
	measured, targets := rp.tables()
	return writeText(w, rp.header, measured, targets)
}

// writeMarkdown writes the report as GitHub-flavoured markdown, for
// BENCHMARKS.md.
func (rp report) writeMarkdown(w io.Writer) error {
	measured, targets := rp.tables()
	return writeMarkdown(w, rp.header, measured, targets)
}

// writeText prints header lines, then each table (rows of cells) aligned.
func writeText(w io.Writer, header []string, tables ...[][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, h := range header {
		fmt.Fprintln(tw, h)
	}
	for _, t := range tables {
		fmt.Fprintln(tw)
		for _, row := range t {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	return tw.Flush()
}

// writeMarkdown is writeText as GitHub-flavoured markdown, the first row
// of each table its head.
func writeMarkdown(w io.Writer, header []string, tables ...[][]string) error {
	var b strings.Builder
	b.WriteString("## Benchmark\n\n")
	for _, h := range header {
		b.WriteString("- " + h + "\n")
	}
	for _, t := range tables {
		b.WriteString("\n")
		for i, row := range t {
			cells := make([]string, len(row))
			for j, c := range row {
				cells[j] = strings.ReplaceAll(c, "|", `\|`)
			}
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
			if i == 0 {
				b.WriteString("|" + strings.Repeat(" --- |", len(row)) + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine flattens an error message for a table cell.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
