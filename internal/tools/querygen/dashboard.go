package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The dashboard's data sources are variables, so it loads into any Grafana
// (by its API or provisioning) and each user picks their Prometheus and Loki.
var (
	promDS = map[string]string{"type": "prometheus", "uid": "${datasource}"}
	lokiDS = map[string]string{"type": "loki", "uid": "${loki}"}
)

// domainVariableQuery lists the domains: every domain the receiver has seen
// has detectify_findings_total series (its critical, high and medium ones
// start at 0).
const domainVariableQuery = "label_values(detectify_findings_total, detectify_domain)"

// panelKind says how each panel type of the list is drawn and queried.
type panelKind struct {
	grafanaType string
	height      int
	instant     bool // PromQL at the dashboard's end time, not over its range
	options     map[string]any
	custom      map[string]any // fieldConfig.defaults.custom
	transforms  []any
}

var panelKinds = map[string]panelKind{
	"timeseries": {grafanaType: "timeseries", height: 8,
		options: map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}},
		custom:  map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "spanNulls": true}},
	"bars": {grafanaType: "timeseries", height: 8,
		options: map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}},
		custom:  map[string]any{"drawStyle": "bars", "fillOpacity": 80, "stacking": map[string]any{"mode": "normal", "group": "A"}}},
	"table": {grafanaType: "table", height: 8, instant: true,
		options:    map[string]any{"showHeader": true},
		transforms: []any{map[string]any{"id": "organize", "options": map[string]any{"excludeByName": map[string]any{"Time": true}}}}},
	"bargauge": {grafanaType: "bargauge", height: 8, instant: true,
		options: map[string]any{"orientation": "horizontal", "displayMode": "basic", "showUnfilled": true,
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}}},
	// A table of log records: the labels and structured metadata Loki
	// returns with each line become columns.
	"findings-table": {grafanaType: "table", height: 10,
		options: map[string]any{"showHeader": true, "sortBy": []any{map[string]any{"displayName": "Time", "desc": true}}},
		transforms: []any{
			map[string]any{"id": "extractFields", "options": map[string]any{"source": "labels", "format": "json"}},
			map[string]any{"id": "organize", "options": map[string]any{
				"includeByName": map[string]any{
					"Time": true, "detectify_domain": true, "detectify_finding_severity": true,
					"detectify_finding_title": true, "detectify_finding_location": true, "detectify_finding_url": true,
				},
				"indexByName": map[string]any{
					"Time": 0, "detectify_domain": 1, "detectify_finding_severity": 2,
					"detectify_finding_title": 3, "detectify_finding_location": 4, "detectify_finding_url": 5,
				},
				"renameByName": map[string]any{
					"detectify_domain": "Domain", "detectify_finding_severity": "Level",
					"detectify_finding_title": "Title", "detectify_finding_location": "Location", "detectify_finding_url": "Report",
				},
			}},
		}},
	"logs": {grafanaType: "logs", height: 10,
		options: map[string]any{"showTime": true, "wrapLogMessage": true, "enableLogDetails": true, "sortOrder": "Descending", "dedupStrategy": "none"}},
}

// buildDashboard lays the panels out left to right on the 24-column grid
// and fills in each target's query, filtered by the $domain variable.
func buildDashboard(q *queryList) ([]byte, []string, error) {
	var used []string
	var panels []any
	x, y, rowHeight := 0, 0, 0
	for i, p := range q.Dashboard.Panels {
		kind, ok := panelKinds[p.Type]
		if !ok {
			return nil, nil, fmt.Errorf("panel %q: unknown type %q", p.Title, p.Type)
		}
		if p.Width <= 0 || p.Width > 24 || len(p.Targets) == 0 || p.Title == "" || p.Description == "" {
			return nil, nil, fmt.Errorf("panel %q: needs a title, a description, a width of 1 to 24 and targets", p.Title)
		}
		if x+p.Width > 24 {
			x, y, rowHeight = 0, y+rowHeight, 0
		}
		var ds map[string]string
		var targets []any
		for j, t := range p.Targets {
			target, tds, name, err := buildTarget(q, t, kind)
			if err != nil {
				return nil, nil, fmt.Errorf("panel %q: %w", p.Title, err)
			}
			if ds != nil && ds["type"] != tds["type"] {
				return nil, nil, fmt.Errorf("panel %q: mixes Prometheus and Loki queries", p.Title)
			}
			ds = tds
			target["refId"] = string(rune('A' + j))
			targets = append(targets, target)
			used = append(used, name)
		}
		defaults := map[string]any{}
		if p.Unit != "" {
			defaults["unit"] = p.Unit
		}
		if kind.custom != nil {
			defaults["custom"] = kind.custom
		}
		panel := map[string]any{
			"id":          i + 1,
			"type":        kind.grafanaType,
			"title":       p.Title,
			"description": p.Description,
			"datasource":  ds,
			"gridPos":     map[string]int{"x": x, "y": y, "w": p.Width, "h": kind.height},
			"targets":     targets,
			"options":     kind.options,
			"fieldConfig": map[string]any{"defaults": defaults, "overrides": []any{}},
		}
		if kind.transforms != nil {
			panel["transformations"] = kind.transforms
		}
		panels = append(panels, panel)
		x += p.Width
		rowHeight = max(rowHeight, kind.height)
	}
	dash := map[string]any{
		"uid":           q.Dashboard.UID,
		"title":         q.Dashboard.Title,
		"tags":          []string{"detectify", "security"},
		"editable":      true,
		"schemaVersion": 39,
		"version":       1,
		"time":          map[string]string{"from": "now-7d", "to": "now"},
		"refresh":       "1m",
		"templating":    map[string]any{"list": templateVariables()},
		"panels":        panels,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // PromQL's > and & stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(dash); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), used, nil
}

// buildTarget returns a panel's query, its data source and the name it has
// in the list.
func buildTarget(q *queryList, t targetSpec, kind panelKind) (map[string]any, map[string]string, string, error) {
	switch {
	case t.PromQL != "" && t.LogQL == "":
		expr, ok := q.PromQL[t.PromQL]
		if !ok {
			return nil, nil, "", fmt.Errorf("no promql query %q in the list", t.PromQL)
		}
		filtered, err := filterPromQL(expr)
		if err != nil {
			return nil, nil, "", fmt.Errorf("promql %s: %w", t.PromQL, err)
		}
		target := map[string]any{"datasource": promDS, "expr": filtered, "editorMode": "code", "range": !kind.instant, "instant": kind.instant}
		switch {
		case t.Legend != "":
			target["legendFormat"] = t.Legend
		case kind.grafanaType == "bargauge":
			target["legendFormat"] = "{{detectify_domain}}"
		}
		if kind.instant && kind.grafanaType == "table" {
			target["format"] = "table"
		}
		return target, promDS, t.PromQL, nil
	case t.LogQL != "" && t.PromQL == "":
		expr, ok := q.LogQL[t.LogQL]
		if !ok {
			return nil, nil, "", fmt.Errorf("no logql query %q in the list", t.LogQL)
		}
		filtered, err := filterLogQL(expr)
		if err != nil {
			return nil, nil, "", fmt.Errorf("logql %s: %w", t.LogQL, err)
		}
		return map[string]any{"datasource": lokiDS, "expr": filtered, "editorMode": "code", "queryType": "range"}, lokiDS, t.LogQL, nil
	default:
		return nil, nil, "", fmt.Errorf("a target names one promql or one logql query: %+v", t)
	}
}

func templateVariables() []any {
	return []any{
		map[string]any{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "hide": 0},
		map[string]any{"name": "loki", "label": "Loki", "type": "datasource", "query": "loki", "hide": 0},
		map[string]any{
			"name": "domain", "label": "Domain", "type": "query", "hide": 0,
			"datasource": promDS,
			"definition": domainVariableQuery,
			"query":      map[string]any{"query": domainVariableQuery, "refId": "domains", "qryType": 1},
			"refresh":    2, // on time range change: new domains appear
			"sort":       1,
			"multi":      true,
			"includeAll": true,
			"allValue":   ".*",
			"current":    map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		},
	}
}
