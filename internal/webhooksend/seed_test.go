package webhooksend

import (
	"encoding/json"
	"reflect"
	"testing"
)

const reportURL = "https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff"

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
	msgs := SeedMessages()
	if len(msgs) != len(want) {
		t.Fatalf("got %d seed messages, want %d", len(msgs), len(want))
	}
	for i, msg := range msgs {
		var got map[string]any
		if err := json.Unmarshal(msg, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("message %d decodes to\n%v\nwant\n%v", i, got, want[i])
		}
	}
}

// The bytes matter, not just the values: they are what gets signed.
func TestSeedMessagesVerbatim(t *testing.T) {
	want := []string{
		`{
 "type": "event_scan_started",
 "domain": "my.domain",
 "report_url": "` + reportURL + `"
}`,
		`{
 "type": "event_finding_high",
 "domain": "my.domain",
 "cvss_score": 6.2,
 "severity": "high",
 "title": "Login Cross Site Request Forgery (CSRF/XSRF)",
 "finding_url": "` + reportURL + `/00000000-0000-0000-0000-000000000000",
 "tags": [ "new" ]
}`,
		`{
 "type": "event_scan_finished",
 "domain": "my.domain",
 "report_url": "` + reportURL + `",
 "critical_findings": 1,
 "medium_findings": 2,
 "notice_findings": 4
}`,
	}
	for i, msg := range SeedMessages() {
		if string(msg) != want[i] {
			t.Errorf("message %d is\n%q\nwant\n%q", i, msg, want[i])
		}
	}
}

func TestSeedMessagesAreCopies(t *testing.T) {
	SeedMessages()[0][0] = 'X'
	if SeedMessages()[0][0] != '{' {
		t.Fatal("modifying a returned message changed the seed")
	}
}
