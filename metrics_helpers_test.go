package detectifyreceiver

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// flattenMetrics renders every int data point as `name{k=v,...}` → value,
// attributes sorted, so expectations read like PromQL.
func flattenMetrics(t testing.TB, md pmetric.Metrics) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					t.Fatalf("unexpected metric type %s for %s", m.Type(), m.Name())
				}
				for _, dp := range dps.All() {
					key := seriesKey(m.Name(), dp.Attributes())
					_, dup := out[key]
					require.False(t, dup, "series %s emitted twice", key)
					out[key] = dp.IntValue()
				}
			}
		}
	}
	return out
}

func seriesKey(name string, attrs pcommon.Map) string {
	var parts []string
	for k, v := range attrs.All() {
		parts = append(parts, fmt.Sprintf("%s=%s", k, v.AsString()))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}
