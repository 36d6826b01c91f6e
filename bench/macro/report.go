package main

import (
	"fmt"
	"slices"
	"strings"
)

// renderReport writes the results as the Markdown tables that
// docs/PERFORMANCE.md quotes.
func renderReport(res results, baseline string) string {
	var b strings.Builder
	b.WriteString("# Macro benchmark results\n\n")
	b.WriteString("## Machine\n\n")
	keys := make([]string, 0, len(res.Machine))
	for k := range res.Machine {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, res.Machine[k])
	}
	b.WriteString("\n## Options\n\n")
	keys = keys[:0]
	for k := range res.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, res.Options[k])
	}

	b.WriteString("\n## Summary (median over rounds; rps range in brackets)\n\n")
	b.WriteString("| server | requests | conns | req/s | p50 | p99 | server CPU/req [range] | server cores | wrk cores | others' cores | steal |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, k := range runKeys(res.Runs) {
		runs := selectRuns(res.Runs, k)
		rps := field(runs, func(r runResult) float64 { return r.RPS })
		cpu := field(runs, func(r runResult) float64 { return r.CPUPerReqUs })
		cpuCell := fmt.Sprintf("%.1f µs [%.1f–%.1f]", median(cpu), slices.Min(cpu), slices.Max(cpu))
		if runs[0].AuxName != "" {
			cpuCell += fmt.Sprintf(" + %s %.1f µs", runs[0].AuxName, median(field(runs, func(r runResult) float64 { return r.AuxCPUPerReqUs })))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s [%s–%s] | %s | %s | %s | %.2f | %.2f | %.2f | %.2f |\n",
			k.target, k.scenario, k.conns,
			thousands(median(rps)), thousands(slices.Min(rps)), thousands(slices.Max(rps)),
			micros(median(field(runs, func(r runResult) float64 { return r.P50us }))),
			micros(median(field(runs, func(r runResult) float64 { return r.P99us }))),
			cpuCell,
			median(field(runs, func(r runResult) float64 { return r.ServerUtil })),
			median(field(runs, func(r runResult) float64 { return r.WrkUtil })),
			median(field(runs, func(r runResult) float64 { return r.OtherUtil })),
			median(field(runs, func(r runResult) float64 { return r.StealUtil })))
	}

	b.WriteString("\n## Ratios, measured within each round\n\n")
	b.WriteString("Each ratio divides two runs of the same round at the same concurrency; the median is over rounds.\n\n")
	b.WriteString("| conns | ratio | per round | median |\n| ---: | --- | --- | ---: |\n")
	type side struct{ target, scenario string }
	pairs := []struct{ a, b side }{
		{side{"detectify", "signed"}, side{"ceiling", "signed"}},
		{side{"webhookevent", "signed"}, side{"ceiling", "signed"}},
		{side{"detectify", "signed"}, side{"webhookevent", "signed"}},
		{side{"detectify", "forged"}, side{"ceiling", "signed"}},
		{side{"detectify", "unsigned"}, side{"ceiling", "signed"}},
		{side{"detectify", "forged"}, side{"detectify", "signed"}},
		{side{"detectify-dedup", "signed"}, side{"detectify", "signed"}},
		{side{"detectify-notraces", "signed"}, side{"detectify", "signed"}},
		{side{"detectify-notelemetry", "signed"}, side{"detectify", "signed"}},
		{side{"detectify-notelemetry", "signed"}, side{"ceiling", "signed"}},
		{side{"detectify-storage", "signed"}, side{"detectify", "signed"}},
		{side{"detectify-storage-dedup", "signed"}, side{"detectify-dedup", "signed"}},
		{side{"detectify-redis", "signed"}, side{"detectify-dedup", "signed"}},
	}
	// Every target against the baseline, same requests and conns.
	if baseline != "" {
		var seen []side
		for _, k := range runKeys(res.Runs) {
			if s := (side{k.target, k.scenario}); k.target != baseline && !slices.Contains(seen, s) {
				seen = append(seen, s)
				pairs = append(pairs, struct{ a, b side }{s, side{baseline, k.scenario}})
			}
		}
	}
	name := func(s side) string {
		if s.scenario == "signed" {
			return s.target
		}
		return s.target + " " + s.scenario
	}
	for _, conns := range allConns(res.Runs) {
		for _, what := range []string{"req/s", "CPU/req"} {
			for _, p := range pairs {
				var per []float64
				for round := 1; round <= maxRound(res.Runs); round++ {
					ra, oka := find(res.Runs, round, p.a.target, p.a.scenario, conns)
					rb, okb := find(res.Runs, round, p.b.target, p.b.scenario, conns)
					if !oka || !okb {
						continue
					}
					if what == "req/s" {
						per = append(per, ra.RPS/rb.RPS)
					} else {
						per = append(per, ra.CPUPerReqUs/rb.CPUPerReqUs)
					}
				}
				if len(per) == 0 {
					continue
				}
				var cells []string
				for _, v := range per {
					cells = append(cells, fmt.Sprintf("%.3f", v))
				}
				fmt.Fprintf(&b, "| %d | %s / %s, %s | %s | **%.3f** (%+.1f%%) |\n", conns, name(p.a), name(p.b), what,
					strings.Join(cells, ", "), median(per), (median(per)-1)*100)
			}
		}
	}

	b.WriteString("\n## Every run\n\n")
	b.WriteString("| round | server | requests | conns | req/s | p50 | p90 | p99 | max | server CPU/req | server cores | wrk cores | redis cores (CPU/req) | others' cores (busiest) | steal | load at start |\n")
	b.WriteString("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n")
	for _, r := range res.Runs {
		aux := "–"
		if r.AuxName != "" {
			aux = fmt.Sprintf("%.2f (%.1f µs)", r.AuxUtil, r.AuxCPUPerReqUs)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d | %s | %s | %s | %s | %s | %.1f µs | %.2f | %.2f | %s | %.2f (%s) | %.2f | %s |\n",
			r.Round, r.Target, r.Scenario, r.Conns, thousands(r.RPS), micros(r.P50us), micros(r.P90us), micros(r.P99us), micros(r.MaxUs),
			r.CPUPerReqUs, r.ServerUtil, r.WrkUtil, aux, r.OtherUtil, r.OtherTop, r.StealUtil, r.Load)
	}

	b.WriteString("\n## What the collectors counted themselves (own telemetry, at the end of each start)\n\n")
	for _, in := range res.Instances {
		if len(in.ServerCounted) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- round %d, %s: wrk completed %d requests (warm-up included); %s\n",
			in.Round, in.Target, in.WrkRequests, strings.Join(in.ServerCounted, "; "))
	}
	b.WriteString("\n## Machine before each server start\n\n")
	for _, in := range res.Instances {
		fmt.Fprintf(&b, "- round %d, %s: %s\n", in.Round, in.Target, in.Quiet)
	}
	if len(res.Warnings) > 0 {
		b.WriteString("\n## Warnings\n\n")
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

type runKey struct {
	target, scenario string
	conns            int
}

// runKeys lists the distinct (server, requests, conns) in the order first run.
func runKeys(runs []runResult) []runKey {
	var keys []runKey
	for _, r := range runs {
		k := runKey{r.Target, r.Scenario, r.Conns}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func selectRuns(runs []runResult, k runKey) []runResult {
	var out []runResult
	for _, r := range runs {
		if r.Target == k.target && r.Scenario == k.scenario && r.Conns == k.conns {
			out = append(out, r)
		}
	}
	return out
}

func find(runs []runResult, round int, target, scenario string, conns int) (runResult, bool) {
	for _, r := range runs {
		if r.Round == round && r.Target == target && r.Scenario == scenario && r.Conns == conns {
			return r, true
		}
	}
	return runResult{}, false
}

func maxRound(runs []runResult) int {
	n := 0
	for _, r := range runs {
		n = max(n, r.Round)
	}
	return n
}

func allConns(runs []runResult) []int {
	var out []int
	for _, r := range runs {
		if !slices.Contains(out, r.Conns) {
			out = append(out, r.Conns)
		}
	}
	slices.Sort(out)
	return out
}

func field(runs []runResult, f func(runResult) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// micros prints a latency given in µs: µs below a millisecond, else ms.
func micros(us float64) string {
	if us < 1000 {
		return fmt.Sprintf("%.0f µs", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}

// thousands prints a rate rounded to an integer, with comma grouping.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
