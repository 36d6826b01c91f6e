package webhooksend

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

const reportURL = "https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff"

// asOnPage writes · for the no-break spaces (U+00A0) Detectify's page
// indents its examples with, which are invisible in source.
func asOnPage(s string) string {
	return strings.ReplaceAll(s, "·", "\u00a0")
}

// The bytes matter, not just the values: they are what gets signed.
func TestSeedMessagesVerbatim(t *testing.T) {
	want := []string{
		`{
·"type": "event_scan_started",
·"domain": "my.domain",
·"report_url": "` + reportURL + `"
}·`,
		`{
·"type": "event_finding_high",
·"domain": "my.domain",
·"cvss_score": 6.2,
·"severity": "high",
·"title": "Login Cross Site Request Forgery (CSRF/XSRF)",
·"finding_url": "` + reportURL + `/00000000-0000-0000-0000-000000000000",
·"tags": [ "new" ]
}`,
		`{
·"type": "event_scan_finished",
·"domain": "my.domain",
·"report_url": "` + reportURL + `",
·"critical_findings": 1,
·"medium_findings": 2,
·"notice_findings": 4
}`,
	}
	msgs := SeedMessages()
	if len(msgs) != len(want) {
		t.Fatalf("got %d seed messages, want %d", len(msgs), len(want))
	}
	for i, msg := range msgs {
		if string(msg) != asOnPage(want[i]) {
			t.Errorf("message %d is\n%q\nwant\n%q", i, msg, asOnPage(want[i]))
		}
	}
}

func TestSeedMessagesMatchDocumentation(t *testing.T) {
	want := []map[string]any{
		{
			"type":       "event_scan_started",
			"domain":     "my.domain",
			"report_url": reportURL,
		},
		{
			"type":        "event_finding_high",
			"domain":      "my.domain",
			"cvss_score":  6.2,
			"severity":    "high",
			"title":       "Login Cross Site Request Forgery (CSRF/XSRF)",
			"finding_url": reportURL + "/00000000-0000-0000-0000-000000000000",
			"tags":        []any{"new"},
		},
		{
			"type":              "event_scan_finished",
			"domain":            "my.domain",
			"report_url":        reportURL,
			"critical_findings": 1.0,
			"medium_findings":   2.0,
			"notice_findings":   4.0,
		},
	}
	for i, msg := range SeedMessages() {
		// A no-break space is not JSON white space; read it as a space.
		msg = bytes.ReplaceAll(msg, []byte("\u00a0"), []byte(" "))
		var got map[string]any
		if err := json.Unmarshal(msg, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("message %d decodes to\n%v\nwant\n%v", i, got, want[i])
		}
	}
}

// Each format's seed is package seed's one copy, in the order of a scan.
func TestSeedMessagesIn(t *testing.T) {
	tests := []struct {
		format Format
		want   []string
	}{
		{FormatClassic, []string{"classic/scan_started", "classic/finding_high", "classic/scan_finished"}},
		{FormatCurrent, []string{"current/scan_started", "current/finding", "current/scan_completed", "current/asset_changed"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			want := make([][]byte, len(tt.want))
			for i, name := range tt.want {
				want[i] = seed.Get(name)
			}
			if got := SeedMessagesIn(tt.format); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Errorf("SeedMessagesIn(%s) =\n%s\nwant\n%s", tt.format, got, want)
			}
		})
	}
	if !slices.EqualFunc(SeedMessages(), SeedMessagesIn(FormatClassic), bytes.Equal) {
		t.Error("SeedMessages is not the classic seed")
	}
}

func TestSeedMessagesCurrentEvents(t *testing.T) {
	var types []string
	for _, msg := range SeedMessagesIn(FormatCurrent) {
		var head struct {
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			t.Fatal(err)
		}
		types = append(types, head.EventType)
	}
	if want := []string{EventScanStarted, EventFinding, EventScanCompleted, "asset_added"}; !slices.Equal(types, want) {
		t.Errorf("current seed events %v, want %v", types, want)
	}
}

func TestSeedMessagesAreCopies(t *testing.T) {
	for _, f := range formats {
		SeedMessagesIn(f)[0][0] = 'X'
		if SeedMessagesIn(f)[0][0] != '{' {
			t.Fatalf("%s: modifying a returned message changed the seed", f)
		}
	}
}
