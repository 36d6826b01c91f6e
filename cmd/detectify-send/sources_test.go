package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// TestMessageSources checks each way of choosing messages sends exactly
// the messages the library makes for the same options, and says what it
// sends.
func TestMessageSources(t *testing.T) {
	limited := webhooksend.ScenarioOptions{
		Format: webhooksend.FormatCurrent, DomainCount: 3, FindingsPerScan: 130, Titles: 5, Unfinished: 1, Seed: 5,
	}
	tests := []struct {
		name string
		args []string
		want [][]byte
		// ordered holds for one sender, which keeps the messages' order.
		ordered    bool
		quiet      bool
		wantStderr []string
	}{
		{
			name: "classic seed by default", want: bodies(seed.Classic()), ordered: true,
			wantStderr: []string{"sending 3 messages (the classic example messages)"},
		},
		{
			name: "classic seed", args: []string{"-seed", "-format", "classic"}, want: bodies(seed.Classic()), ordered: true,
			wantStderr: []string{"(the classic example messages)"},
		},
		{
			name: "current seed", args: []string{"-seed", "-format", "current"}, want: bodies(seed.Current()), ordered: true,
			wantStderr: []string{"sending 4 messages (the current example messages)"},
		},
		{
			name: "current format alone picks the current seed", args: []string{"-format", "current"}, want: bodies(seed.Current()), ordered: true,
		},
		{
			name:  "classic scenario, quiet, two senders",
			args:  []string{"-quiet", "-scenario", "-domains", "a.test, b.test", "-findings", "2", "-random-seed", "9", "-concurrency", "2"},
			want:  scenario(webhooksend.ScenarioOptions{Domains: []string{"a.test", "b.test"}, FindingsPerScan: 2, Seed: 9}),
			quiet: true,
		},
		{
			name: "current scenario over Detectify's limits",
			args: []string{"-format", "current", "-scenario", "-domains", "3", "-findings", "130", "-titles", "5", "-unfinished", "1", "-random-seed", "5"},
			want: scenario(limited), ordered: true,
			wantStderr: append([]string{
				"current scenario of 3 domains × 130 findings, 5 titles",
				"no finished message for 1 of the scans",
				"-random-seed 5",
			}, withheldMentions(t, limited)...),
		},
		{
			name: "current unique findings", args: []string{"-format", "current", "-unique", "20", "-random-seed", "3"},
			want: webhooksend.UniqueFindingsIn(webhooksend.FormatCurrent, 20, 3), ordered: true,
			wantStderr: []string{"20 unique current findings, -random-seed 3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rc := startReceiver(t, http.StatusOK)
			res := runCLI(context.Background(), withSecret, append([]string{"-url", srv.URL}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
			}
			if tt.quiet && res.stdout+res.stderr != "" {
				t.Errorf("quiet success printed %q", res.stdout+res.stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr %q lacks %q", res.stderr, want)
				}
			}
			got, bad := rc.seen()
			if bad != 0 {
				t.Errorf("%d badly signed requests", bad)
			}
			if !tt.ordered {
				got, tt.want = sorted(got), sorted(tt.want)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("receiver got %d messages, want %d:\n%s\nwant\n%s", len(got), len(tt.want), got, tt.want)
			}
		})
	}
}

func bodies(msgs []seed.Message) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

func scenario(opts webhooksend.ScenarioOptions) [][]byte {
	msgs, _ := webhooksend.Scenario(opts)
	return msgs
}

// withheldMentions is what the progress line must say of the scenario's
// withheld findings: the total and each domain's share.
func withheldMentions(t *testing.T, opts webhooksend.ScenarioOptions) []string {
	t.Helper()
	_, scans := webhooksend.Scenario(opts)
	total := 0
	var out []string
	for _, s := range scans {
		total += s.Withheld
		if s.Withheld > 0 {
			out = append(out, fmt.Sprintf("%s %d", s.Domain, s.Withheld))
		}
	}
	if total == 0 {
		t.Fatalf("options %+v withhold nothing; the test needs a scenario that does", opts)
	}
	return append(out, fmt.Sprintf("%d withheld by Detectify's limits", total))
}

func sorted(msgs [][]byte) [][]byte {
	out := slices.Clone(msgs)
	slices.SortFunc(out, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	return out
}
