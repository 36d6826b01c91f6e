package detectifyreceiver

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// TestLogRecordsMatchMetadata holds translate.go to metadata.yaml, which
// documents the records: every record's EventName is a declared event and
// every attribute is declared for that event, with its declared type.
func TestLogRecordsMatchMetadata(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("metadata.yaml"))
	require.NoError(t, err)
	var md struct {
		Attributes map[string]struct {
			Type string `mapstructure:"type"`
		} `mapstructure:"attributes"`
		Events map[string]struct {
			Attributes []string `mapstructure:"attributes"`
		} `mapstructure:"events"`
		ResourceAttributes map[string]any `mapstructure:"resource_attributes"`
	}
	require.NoError(t, cm.Unmarshal(&md, confmap.WithIgnoreUnused()))

	// Every known field, under each kind of type: any field may come with
	// any type, and each present one becomes an attribute.
	const fields = `"domain":"d","report_url":"https://detectify.com/report/t/s","finding_url":"https://detectify.com/report/t/s/f",` +
		`"title":"t","severity":"low","cvss_score":1,"tags":[],"critical_findings":1,"medium_findings":2,"notice_findings":3`
	var messages []string
	for _, typ := range []string{"event_scan_started", "event_scan_finished", "event_finding_high", "event_scan_paused", "something_else"} {
		messages = append(messages,
			`{"type":"`+typ+`",`+fields+`}`,
			`{"type":"`+typ+`","cvss_score":"not a number"}`)
	}
	translator := newLogTranslator(receiverSettingsForTest(t), metadata.DefaultLogsBuilderConfig())
	for _, m := range messages {
		w, err := parseText(m)
		require.NoError(t, err)
		ld := translator.toLogs(classify(&w), m, testNow)
		require.Equal(t, 1, ld.LogRecordCount(), m)

		for k := range ld.ResourceLogs().At(0).Resource().Attributes().All() {
			assert.Contains(t, md.ResourceAttributes, k, "resource attribute not in metadata.yaml")
		}
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		event, declared := md.Events[lr.EventName()]
		require.True(t, declared, "event %q is not in metadata.yaml", lr.EventName())
		for k, v := range lr.Attributes().All() {
			assert.Contains(t, event.Attributes, k, "%s: attribute not declared for event %s", m, lr.EventName())
			wantType := map[string]string{"Str": "string", "Int": "int", "Double": "double", "Slice": "slice"}[v.Type().String()]
			assert.Equal(t, md.Attributes[k].Type, wantType, "type of %s", k)
		}
	}
}
