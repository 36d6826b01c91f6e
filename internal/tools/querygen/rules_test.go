package main

import (
	"strings"
	"testing"
)

func TestRenderRules(t *testing.T) {
	promql := map[string]string{
		"one":   "sum(detectify_scans_open)",
		"multi": "a\nor\nb",
	}
	for _, tc := range []struct{ name, tmpl, want string }{
		{"single line", "    expr: {{ promql \"one\" }}\n", "    expr: sum(detectify_scans_open)\n"},
		{"threshold after it", "    expr: {{ promql \"one\" }} > 0", "    expr: sum(detectify_scans_open) > 0"},
		{"block, indented under expr", "  - expr: {{ promql \"multi\" }} > 1\n    for: 1h",
			"  - expr: |\n      a\n      or\n      b > 1\n    for: 1h"},
		{"other lines as they are", "# expr: is a comment\n  record: x", "# expr: is a comment\n  record: x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, used, err := renderRules(tc.tmpl, promql)
			if err != nil {
				t.Fatal(err)
			}
			if got = strings.TrimPrefix(got, generatedRulesNote); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(tc.tmpl, "promql") && len(used) != 1 {
				t.Errorf("used %v, want the one query", used)
			}
		})
	}
	for _, bad := range []string{
		"    expr: sum(detectify_scans_open) > 0", // written out, not from the list
		"    expr: {{ promql \"missing\" }}",
	} {
		if _, _, err := renderRules(bad, promql); err == nil {
			t.Errorf("renderRules(%q): want an error", bad)
		}
	}
}

func TestUnusedQueries(t *testing.T) {
	q := &queryList{PromQL: map[string]string{"a": "x", "b": "y"}, LogQL: map[string]string{"c": "{}"}}
	got := unusedQueries(q, []string{"a"})
	if strings.Join(got, ",") != "b,c" {
		t.Errorf("unused = %v, want [b c]", got)
	}
}
