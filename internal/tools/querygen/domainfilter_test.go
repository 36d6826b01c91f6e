package main

import "testing"

func TestFilterPromQL(t *testing.T) {
	const m = `detectify_domain=~"$domain"`
	for _, tc := range []struct{ name, in, want string }{
		{"bare name", `sum(detectify_scans_open)`, `sum(detectify_scans_open{` + m + `})`},
		{"matchers kept", `detectify_scans_total{detectify_scan_state="stalled"}[1h]`,
			`detectify_scans_total{` + m + `, detectify_scan_state="stalled"}[1h]`},
		{"empty braces", `detectify_scans_open{}`, `detectify_scans_open{` + m + `}`},
		{"label names and values are not series", `max by (detectify_domain) (detectify_scan_findings{detectify_finding_category="detectify_scans_open"})`,
			`max by (detectify_domain) (detectify_scan_findings{` + m + `, detectify_finding_category="detectify_scans_open"})`},
		{"a longer name is another series", `detectify_scan_findings_undelivered or detectify_scan_findings`,
			`detectify_scan_findings_undelivered{` + m + `} or detectify_scan_findings{` + m + `}`},
		{"up and recorded series untouched", `detectify_scans_open and on (instance) up unless detectify_domain:detectify_scans:present`,
			`detectify_scans_open{` + m + `} and on (instance) up unless detectify_domain:detectify_scans:present`},
		{"grafana variables", `increase(detectify_findings_total[$__rate_interval])`,
			`increase(detectify_findings_total{` + m + `}[$__rate_interval])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := filterPromQL(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("filterPromQL(%s)\n got %s, %v\nwant %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{`sum(up)`, `detectify_scans_open{detectify_domain="x"`} {
		if got, err := filterPromQL(bad); err == nil {
			t.Errorf("filterPromQL(%s) = %s, want an error", bad, got)
		}
	}
}

func TestFilterLogQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{service_name="detectify"}`, `{service_name="detectify", detectify_domain=~"$domain"}`},
		{`{service_name="detectify"} |= "x" | detectify_scan_duration > 0`, `{service_name="detectify", detectify_domain=~"$domain"} |= "x" | detectify_scan_duration > 0`},
	} {
		if got, err := filterLogQL(tc.in); err != nil || got != tc.want {
			t.Errorf("filterLogQL(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`sum(count_over_time({a="b"}[1m]))`, `{a="b"`} {
		if _, err := filterLogQL(bad); err == nil {
			t.Errorf("filterLogQL(%s): want an error", bad)
		}
	}
}
