package main

import (
	"encoding/json"
	"regexp"
	"testing"
)

// TestDashboardModel checks what Grafana needs of the dashboard written from
// the repository's list, which no Grafana runs here: panels with unique ids
// that do not overlap on the 24-column grid, data sources that are the
// dashboard's variables, queries that use only defined variables (or
// Grafana's own), and the domain filter in every query.
func TestDashboardModel(t *testing.T) {
	q, err := loadQueries("../../../examples/queries/queries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := buildDashboard(q)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int
			Title      string
			Datasource struct{ Type, UID string }
			GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
			Targets    []struct {
				RefID      string `json:"refId"`
				Expr       string
				Datasource struct{ Type, UID string }
			}
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, want := range []string{"datasource", "loki", "domain"} {
		if !vars[want] {
			t.Errorf("no variable %q", want)
		}
	}
	used := regexp.MustCompile(`\$\{?(\w+)\}?`)
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("%q: gridPos %+v off the grid", p.Title, p.GridPos)
		}
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("%q overlaps %q at %d,%d", p.Title, other, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		wantUID := map[string]string{"prometheus": "${datasource}", "loki": "${loki}"}[p.Datasource.Type]
		if wantUID == "" || p.Datasource.UID != wantUID {
			t.Errorf("%q: data source %+v, want a dashboard variable", p.Title, p.Datasource)
		}
		for _, target := range p.Targets {
			if target.Datasource != p.Datasource || target.RefID == "" {
				t.Errorf("%q %s: data source %+v, panel's %+v", p.Title, target.RefID, target.Datasource, p.Datasource)
			}
			for _, m := range used.FindAllStringSubmatch(target.Expr, -1) {
				if !vars[m[1]] {
					t.Errorf("%q %s uses $%s, which is no variable", p.Title, target.RefID, m[1])
				}
			}
			if !regexp.MustCompile(`detectify_domain=~"\$domain"`).MatchString(target.Expr) {
				t.Errorf("%q %s does not filter by $domain: %s", p.Title, target.RefID, target.Expr)
			}
		}
	}
	if len(d.Panels) < 8 {
		t.Errorf("%d panels", len(d.Panels))
	}
}
