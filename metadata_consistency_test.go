package detectifyreceiver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// metadataYAML is what the consistency tests read of metadata.yaml.
type metadataYAML struct {
	Attributes map[string]struct {
		Type string `mapstructure:"type"`
	} `mapstructure:"attributes"`
	Events map[string]struct {
		Attributes []string `mapstructure:"attributes"`
	} `mapstructure:"events"`
	Metrics            map[string]any `mapstructure:"metrics"`
	ResourceAttributes map[string]any `mapstructure:"resource_attributes"`
}

func readMetadata(t *testing.T) metadataYAML {
	cm, err := confmaptest.LoadConf(filepath.Join("metadata.yaml"))
	require.NoError(t, err)
	var md metadataYAML
	require.NoError(t, cm.Unmarshal(&md, confmap.WithIgnoreUnused()))
	return md
}

// TestRecordsMatchMetadata holds the records to metadata.yaml, which
// documents them: every EventName is a declared event; every attribute is
// declared for its event with its type, or is a current-format subject's
// own field (detectify.<subject>.<key>, which no file can list).
func TestRecordsMatchMetadata(t *testing.T) {
	md := readMetadata(t)
	bodies := [][]byte{
		[]byte(`{"type":"event_finding_high","domain":"d","report_url":"https://detectify.com/report/t/s","finding_url":"https://detectify.com/report/t/s/f","title":"t","severity":"low","cvss_score":1,"tags":[],"critical_findings":1,"medium_findings":2,"notice_findings":3}`),
		[]byte(`{"type":"event_scan_paused","domain":"d","cvss_score":"not a number"}`),
		[]byte(`{"type":"something_else","domain":"d"}`),
		[]byte(`{"event_type":"finding","timestamp":"bad","finding":{"asset":{"name":"a.com","token":"t"},"uuid":"u","title":"t","severity":"high","url":"u","parameter":"p","status":"active","cvss_scores":{"v3":{"score":7}},"tags":[{"name":"x"}],"report_token":"r","deep":{"a":{"b":{"c":1}}}}}`),
		[]byte(`{"event_type":"scan_completed","scan":{"id":"s2","asset":"a.com","critical_level_findings":1,"high_level_findings":1,"medium_level_findings":1,"low_level_findings":1,"information_findings":1,"extra":"x"}}`),
	}
	for _, m := range append(seed.Classic(), seed.Current()...) {
		bodies = append(bodies, m.Body)
	}
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	h := newHarness(t, withAPI(endpoint))
	// A scan completed from the API: its findings' and its summary's
	// records.
	playLimitedScan(h, 3, 5)
	eventually(t, func() bool { return len(eventRecords(h, "detectify.scan.backfilled")) == 1 }, "the backfill ends")
	// Limits and a finish with what was withheld, so the scan insight is
	// there too.
	h.postOK([]byte(`{"type":"event_scan_started","domain":"lim.example","report_url":"https://detectify.com/report/t/lim"}`))
	for i := range 10 {
		h.postOK([]byte(`{"type":"event_finding_high","domain":"lim.example","title":"x","finding_url":"https://detectify.com/report/t/lim/f` + strings.Repeat("1", i+1) + `"}`))
	}
	h.postOK(bodies...)
	h.postOK([]byte(`{"type":"event_scan_finished","domain":"lim.example","report_url":"https://detectify.com/report/t/lim","critical_findings":20}`))
	h.postOK([]byte(`{"event_type":"scan_started","scan":{"id":"stale","asset":"stale.example"}}`))
	h.setNow(testNow.Add(100 * 24 * 60 * 60 * 1e9))
	h.interval() // a stalled scan's record

	seen := map[string]bool{}
	for _, batch := range h.logs.batches() {
		for k := range batch.ResourceLogs().At(0).Resource().Attributes().All() {
			assert.Contains(t, md.ResourceAttributes, k, "resource attribute not in metadata.yaml")
		}
	}
	for _, lr := range h.logs.records() {
		event, declared := md.Events[lr.EventName()]
		require.True(t, declared, "event %q is not in metadata.yaml", lr.EventName())
		seen[lr.EventName()] = true
		for k, v := range lr.Attributes().All() {
			attr, known := md.Attributes[k]
			if !known {
				assert.True(t, isSubjectField(k), "%s: attribute %s is neither declared nor a subject's field", lr.EventName(), k)
				continue
			}
			assert.Contains(t, event.Attributes, k, "attribute not declared for event %s", lr.EventName())
			wantType := map[string]string{"Str": "string", "Int": "int", "Double": "double", "Slice": "slice", "Bool": "bool"}[v.Type().String()]
			assert.Equal(t, attr.Type, wantType, "type of %s", k)
		}
	}
	assert.Len(t, seen, len(md.Events), "every declared event was produced: %v", seen)
}

func isSubjectField(key string) bool {
	rest, ok := strings.CutPrefix(key, "detectify.")
	subject, field, found := strings.Cut(rest, ".")
	return ok && found && subject != "" && field != ""
}

// The README's tables name every attribute, event and metric metadata.yaml
// declares: they are an API users read there.
func TestReadmeNamesEveryAttributeEventAndMetric(t *testing.T) {
	md := readMetadata(t)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var names []string
	for name := range md.Attributes {
		names = append(names, name)
	}
	for name := range md.Events {
		names = append(names, name)
	}
	for name := range md.Metrics {
		names = append(names, name)
	}
	for _, name := range names {
		assert.True(t, strings.Contains(string(readme), "`"+name+"`"), "README.md does not name %s", name)
	}
}
