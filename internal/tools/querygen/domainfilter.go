package main

import (
	"fmt"
	"strings"
)

// domainMatcher selects the dashboard's domains (its variable $domain).
const domainMatcher = `detectify_domain=~"$domain"`

// domainSeries are the receiver's Prometheus series, all labelled
// detectify_domain; other names (up, recorded series) are left alone.
var domainSeries = map[string]bool{
	"detectify_findings_total":            true,
	"detectify_scans_total":               true,
	"detectify_scans_open":                true,
	"detectify_scan_findings":             true,
	"detectify_scan_findings_undelivered": true,
	"detectify_scan_findings_backfilled":  true,
	"detectify_scan_duration_seconds":     true,
}

// filterPromQL adds the domain matcher to every selector of a domainSeries
// name in expr. It reads names as PromQL does (letters, digits, _ and :),
// skips quoted strings and what is inside braces, so a label name such as
// detectify_domain in `by (...)` or a value is never taken for a series.
func filterPromQL(expr string) (string, error) {
	var out strings.Builder
	found := false
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := skipString(expr, i)
			out.WriteString(expr[i:j])
			i = j
		case c == '{':
			j := strings.IndexByte(expr[i:], '}')
			if j < 0 {
				return "", fmt.Errorf("%q: unclosed {", expr)
			}
			out.WriteString(expr[i : i+j+1])
			i += j + 1
		case isNameStart(c):
			j := i
			for j < len(expr) && isNameChar(expr[j]) {
				j++
			}
			name := expr[i:j]
			out.WriteString(name)
			i = j
			if !domainSeries[name] {
				continue
			}
			found = true
			if i < len(expr) && expr[i] == '{' {
				j := strings.IndexByte(expr[i:], '}')
				if j < 0 {
					return "", fmt.Errorf("%q: unclosed {", expr)
				}
				matchers := strings.TrimSpace(expr[i+1 : i+j])
				if matchers != "" {
					matchers = ", " + matchers
				}
				out.WriteString("{" + domainMatcher + matchers + "}")
				i += j + 1
				continue
			}
			out.WriteString("{" + domainMatcher + "}")
		default:
			out.WriteByte(c)
			i++
		}
	}
	if !found {
		return "", fmt.Errorf("%q selects none of the receiver's series: the dashboard could not filter it by domain", expr)
	}
	return out.String(), nil
}

// filterLogQL adds the domain matcher to the stream selector, which opens
// every LogQL log query.
func filterLogQL(expr string) (string, error) {
	expr = strings.TrimSpace(expr)
	if !strings.HasPrefix(expr, "{") {
		return "", fmt.Errorf("%q: a log query starts with its stream selector", expr)
	}
	end := strings.IndexByte(expr, '}')
	if end < 0 {
		return "", fmt.Errorf("%q: unclosed stream selector", expr)
	}
	return expr[:end] + ", " + domainMatcher + expr[end:], nil
}

func skipString(s string, i int) int {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return len(s)
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
