package e2e

import (
	"fmt"
	"regexp"
	"strconv"
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

// expositionSample is one sample line of the Prometheus text format.
type expositionSample struct {
	name   string
	labels string // the text between the braces, as written
	value  float64
}

// label returns the value of one label of s ("" when absent).
func (s expositionSample) label(name string) string {
	for _, pair := range labelPair.FindAllStringSubmatch(s.labels, -1) {
		if pair[1] == name {
			return pair[2]
		}
	}
	return ""
}

func parseExposition(page string) []expositionSample {
	var out []expositionSample
	for line := range strings.Lines(page) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		s := expositionSample{name: series, value: v}
		if j := strings.IndexByte(series, '{'); j >= 0 {
			s.name, s.labels = series[:j], strings.TrimSuffix(series[j+1:], "}")
		}
		out = append(out, s)
	}
	return out
}

// scrape reads the samples of a Prometheus text page.
func scrape(url string) ([]expositionSample, error) {
	page, err := httpGet(url)
	if err != nil {
		return nil, err
	}
	return parseExposition(page), nil
}

// scrapeTotals reads a Prometheus text page and sums the samples of each
// metric name over their labels.
func scrapeTotals(url string) (map[string]float64, error) {
	samples, err := scrape(url)
	totals := map[string]float64{}
	for _, s := range samples {
		totals[s.name] += s.value
	}
	return totals, err
}
