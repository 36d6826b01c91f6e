package message

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

var update = flag.Bool("update", false, "rewrite the golden files from what Parse returns")

// goldenEvent is an Event as the golden files show it: attribute types
// spelled out, so an int and a double of the same value differ.
type goldenEvent struct {
	Format        string            `json:"format"`
	Kind          string            `json:"kind"`
	Type          string            `json:"type,omitempty"`
	Domain        string            `json:"domain,omitempty"`
	Level         string            `json:"level,omitempty"`
	Title         string            `json:"title,omitempty"`
	ScanID        string            `json:"scan_id,omitempty"`
	ScanState     string            `json:"scan_state,omitempty"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Counts        map[string]int64  `json:"counts,omitempty"`
	Reported      *int64            `json:"reported_findings,omitempty"`
	Attributes    []goldenAttribute `json:"attributes"`
	InvalidFields []string          `json:"invalid_fields,omitempty"`
	DroppedFields int               `json:"dropped_fields,omitempty"`
}

type goldenAttribute struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

var kindNames = map[Kind]string{KindOther: "other", KindFinding: "finding", KindScanStarted: "scan_started",
	KindScanFinished: "scan_finished", KindAssetChanged: "asset_changed"}

func toGolden(e Event) goldenEvent {
	g := goldenEvent{Format: e.Format.String(), Kind: kindNames[e.Kind], Type: e.Type, Domain: e.Domain,
		Level: e.Level, Title: e.Title, ScanID: e.ScanID, ScanState: e.ScanState,
		InvalidFields: e.InvalidFields, DroppedFields: e.DroppedFields, Attributes: []goldenAttribute{}}
	if !e.Timestamp.IsZero() {
		g.Timestamp = e.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	for c, count := range e.Counts {
		if count.OK {
			if g.Counts == nil {
				g.Counts = map[string]int64{}
			}
			g.Counts[Category(c).String()] = count.N
		}
	}
	if n, ok := e.ReportedFindings(); ok {
		g.Reported = &n
	}
	for key, v := range attributesOf(e).All() {
		g.Attributes = append(g.Attributes, goldenAttribute{Key: key, Type: typeNames[v.Type()], Value: v.AsRaw()})
	}
	return g
}

var typeNames = map[pcommon.ValueType]string{pcommon.ValueTypeStr: "string", pcommon.ValueTypeInt: "int",
	pcommon.ValueTypeDouble: "double", pcommon.ValueTypeBool: "bool", pcommon.ValueTypeSlice: "slice"}

// goldenInputs are the seed's messages and the extra shapes in
// testdata/messages, by golden file name.
func goldenInputs(t testing.TB) map[string][]byte {
	inputs := map[string][]byte{}
	for _, m := range append(append(seed.Classic(), seed.Current()...), seed.Message{Name: "current/finding_nbsp", Body: seed.Get("current/finding_nbsp")}) {
		inputs["seed_"+strings.ReplaceAll(m.Name, "/", "_")] = m.Body
	}
	files, err := filepath.Glob(filepath.Join("testdata", "messages", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs[strings.TrimSuffix(filepath.Base(f), ".json")] = body
	}
	return inputs
}

// TestGolden holds what each example message becomes. Regenerate with
// `go test ./internal/message -run TestGolden -update` and read the diff.
func TestGolden(t *testing.T) {
	for name, body := range goldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			e, err := Parse(body)
			require.NoError(t, err)
			got, err := json.MarshalIndent(toGolden(e), "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o600))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file: run with -update")
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

// The documented example, verbatim and as copied from the page with its
// no-break-space indentation, is one and the same event.
func TestCurrentExampleWithNoBreakSpacesIsTheSameEvent(t *testing.T) {
	verbatim, err := Parse(seed.Get("current/finding"))
	require.NoError(t, err)
	copied, err := Parse(seed.Get("current/finding_nbsp"))
	require.NoError(t, err)
	assert.Equal(t, verbatim, copied)
}
