// Command querygen writes the example alert rules and the Grafana dashboard
// from the one list of queries they share (examples/queries/queries.yaml),
// so that a query cannot differ between an alert and the panel that shows it.
//
//	querygen -queries examples/queries/queries.yaml \
//	  -rules-template examples/prometheus/rules.yml.tmpl -rules examples/prometheus/rules.yml \
//	  -dashboard examples/grafana/detectify.json
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
)

func main() {
	queries := flag.String("queries", "examples/queries/queries.yaml", "the list of queries")
	rulesTmpl := flag.String("rules-template", "examples/prometheus/rules.yml.tmpl", "the alert rules, with each expr naming a query")
	rulesOut := flag.String("rules", "examples/prometheus/rules.yml", "where the rules are written")
	dashOut := flag.String("dashboard", "examples/grafana/detectify.json", "where the dashboard is written")
	flag.Parse()
	if err := run(*queries, *rulesTmpl, *rulesOut, *dashOut); err != nil {
		fmt.Fprintln(os.Stderr, "querygen:", err)
		os.Exit(1)
	}
}

func run(queriesPath, rulesTmplPath, rulesPath, dashPath string) error {
	q, err := loadQueries(queriesPath)
	if err != nil {
		return err
	}
	tmpl, err := os.ReadFile(rulesTmplPath)
	if err != nil {
		return err
	}
	rules, usedByRules, err := renderRules(string(tmpl), q.PromQL)
	if err != nil {
		return fmt.Errorf("%s: %w", rulesTmplPath, err)
	}
	dash, usedByPanels, err := buildDashboard(q)
	if err != nil {
		return fmt.Errorf("%s: dashboard: %w", queriesPath, err)
	}
	if unused := unusedQueries(q, append(usedByRules, usedByPanels...)); len(unused) > 0 {
		return fmt.Errorf("%s: neither a rule nor a panel uses %v", queriesPath, unused)
	}
	if err := os.WriteFile(rulesPath, []byte(rules), 0o644); err != nil {
		return err
	}
	return os.WriteFile(dashPath, dash, 0o644)
}

// unusedQueries are the list's names no rule or panel refers to: a query
// nothing runs is checked by nothing.
func unusedQueries(q *queryList, used []string) []string {
	var unused []string
	for _, names := range []map[string]string{q.PromQL, q.LogQL} {
		for name := range names {
			if !slices.Contains(used, name) {
				unused = append(unused, name)
			}
		}
	}
	sort.Strings(unused)
	return unused
}
