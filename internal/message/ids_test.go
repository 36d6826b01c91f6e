package message

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the API backfill addresses a scan and recognises a finding by.
func TestEventIDsForTheAPI(t *testing.T) {
	tests := []struct {
		name                               string
		body                               string
		profile, scan, findingID, location string
	}{
		{
			name:    "classic finding: the finding URL names profile, report and finding",
			body:    `{"type":"event_finding_high","domain":"example.com","title":"XSS","finding_url":"` + seedFindingURL + `"}`,
			profile: seedToken, scan: seedScanID, findingID: seedFindingID,
		},
		{
			name:    "classic finish: the report URL names profile and report",
			body:    `{"type":"event_scan_finished","domain":"example.com","report_url":"` + seedReportURL + `"}`,
			profile: seedToken, scan: seedScanID,
		},
		{
			name:    "current finding: profile token in the subject, uuid and url",
			body:    `{"event_type":"finding","finding":{"title":"SQLi","severity":"high","asset":"a.example.com","url":"https://a.example.com/x?id=1","uuid":"u-1","scan_id":"s1","scan_profile_token":"p1"}}`,
			profile: "p1", scan: "s1", findingID: "u-1", location: "https://a.example.com/x?id=1",
		},
		{
			name:    "current scan: profile token at the top level",
			body:    `{"event_type":"scan_completed","profile_token":"p2","scan":{"id":"s2","asset":"a.example.com"}}`,
			profile: "p2", scan: "s2",
		},
		{
			name:    "current finding with only a finding URL",
			body:    `{"event_type":"finding","finding":{"title":"SQLi","finding_url":"https://detectify.com/report/p3/s3/f3"}}`,
			profile: "p3", scan: "s3", findingID: "f3",
		},
		{
			name: "current finding whose scan id is not the URL's: the URL's profile is not taken",
			body: `{"event_type":"finding","finding":{"title":"SQLi","scan_id":"other","finding_url":"https://detectify.com/report/p3/s3/f3"}}`,
			scan: "other",
		},
		{
			name: "nothing to address",
			body: `{"event_type":"finding","finding":{"title":"SQLi"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.profile, e.Profile, "profile")
			assert.Equal(t, tt.scan, e.ScanID, "scan")
			assert.Equal(t, tt.findingID, e.FindingID, "finding id")
			assert.Equal(t, tt.location, e.Location, "location")
		})
	}
}
