package main

import (
	"fmt"
	"strings"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// maxListedDomains keeps the description one readable line however many
// domains a scenario scans.
const maxListedDomains = 5

// describeScenario says what a scenario sends and what Detectify's sender
// limits withhold of it, so the receiver's undelivered counts can be
// checked against it.
func describeScenario(opts webhooksend.ScenarioOptions, scans []webhooksend.ScanSummary) string {
	sent, withheld, unfinished := 0, 0, 0
	var perDomain []string
	for _, s := range scans {
		sent += s.Sent
		withheld += s.Withheld
		if !s.Finished {
			unfinished++
		}
		if s.Withheld > 0 {
			perDomain = append(perDomain, fmt.Sprintf("%s %d", s.Domain, s.Withheld))
		}
	}
	if len(perDomain) > maxListedDomains {
		perDomain = append(perDomain[:maxListedDomains], fmt.Sprintf("%d more", len(perDomain)-maxListedDomains))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s scenario of %d domains × %d findings, %d titles: %d finding messages, %d withheld by Detectify's limits",
		opts.Format, len(scans), opts.FindingsPerScan, opts.Titles, sent, withheld)
	if len(perDomain) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(perDomain, ", "))
	}
	if unfinished > 0 {
		fmt.Fprintf(&b, ", no finished message for %d of the scans", unfinished)
	}
	fmt.Fprintf(&b, ", -random-seed %d", opts.Seed)
	return b.String()
}
