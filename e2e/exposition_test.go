package e2e

import (
	"fmt"
	"regexp"
	"strings"
)

// exposedSample is a sample of the Prometheus exposition format: a metric
// name, labels it must carry (others may be there too) and its value as
// written.
type exposedSample struct {
	name   string
	labels map[string]string
	value  string
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// findIn returns nil when page has a line for s with s's value.
func (s exposedSample) findIn(page string) error {
	for line := range strings.Lines(page) {
		m := sampleLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || m[1] != s.name || !hasLabels(m[2], s.labels) {
			continue
		}
		if m[3] != s.value {
			return fmt.Errorf("%s%v = %s, want %s", s.name, s.labels, m[3], s.value)
		}
		return nil
	}
	return fmt.Errorf("no sample %s%v", s.name, s.labels)
}

func hasLabels(text string, want map[string]string) bool {
	got := map[string]string{}
	for _, pair := range labelPair.FindAllStringSubmatch(text, -1) {
		got[pair[1]] = pair[2]
	}
	for name, value := range want {
		if got[name] != value {
			return false
		}
	}
	return true
}
