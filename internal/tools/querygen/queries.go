package main

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// queryList is examples/queries/queries.yaml: the named queries and the
// dashboard built from them.
type queryList struct {
	PromQL    map[string]string `yaml:"promql"`
	LogQL     map[string]string `yaml:"logql"`
	Dashboard dashboardSpec     `yaml:"dashboard"`
}

type dashboardSpec struct {
	UID    string      `yaml:"uid"`
	Title  string      `yaml:"title"`
	Panels []panelSpec `yaml:"panels"`
}

// panelSpec is one panel; its type is one of panelTypes' keys.
type panelSpec struct {
	Title       string       `yaml:"title"`
	Description string       `yaml:"description"`
	Type        string       `yaml:"type"`
	Unit        string       `yaml:"unit"`
	Width       int          `yaml:"width"`
	Targets     []targetSpec `yaml:"targets"`
}

// targetSpec names one query of the list: PromQL or LogQL, not both.
type targetSpec struct {
	PromQL string `yaml:"promql"`
	LogQL  string `yaml:"logql"`
	Legend string `yaml:"legend"`
}

func loadQueries(path string) (*queryList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var q queryList
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(&q); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, expr := range q.PromQL {
		if strings.TrimSpace(expr) == "" {
			return nil, fmt.Errorf("%s: promql %s is empty", path, name)
		}
	}
	for name, expr := range q.LogQL {
		if strings.TrimSpace(expr) == "" {
			return nil, fmt.Errorf("%s: logql %s is empty", path, name)
		}
	}
	return &q, nil
}
