package e2e

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// series is one metric stream, a metric and its attributes, with the value
// its latest point must have, or, when positive is set, any value above 0
// (a duration, which depends on the clock).
type series struct {
	metric   string
	attrs    map[string]string
	value    float64
	positive bool
}

func (s series) String() string { return fmt.Sprintf("%s%v", s.metric, s.attrs) }

// waitSeries waits until the peer's latest point of each series has the
// series' value. The receiver's sums are cumulative, so the latest point is
// the count so far.
func waitSeries(t *testing.T, p *peer, want []series) {
	t.Helper()
	eventually(t, p.process, deliveryTimeout, "metrics at the peer", func() error {
		exported, err := readMetrics(p.metricsFile)
		if err != nil {
			return err
		}
		for _, s := range want {
			got, ok := latestValue(exported, s)
			switch {
			case !ok:
				return fmt.Errorf("no point of %s yet", s)
			case s.positive && got <= 0:
				return fmt.Errorf("%s = %v, want a value above 0", s, got)
			case !s.positive && got != s.value:
				return fmt.Errorf("%s = %v, want %v", s, got, s.value)
			}
		}
		return nil
	})
}

// latestValue returns the value, int or double, of the last point written
// for s.
func latestValue(exported []pmetric.Metrics, s series) (float64, bool) {
	var value float64
	found := false
	for _, md := range exported {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != s.metric {
						continue
					}
					for _, dp := range dataPoints(m).All() {
						if !hasAttrs(dp, s.attrs) {
							continue
						}
						found = true
						if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
							value = dp.DoubleValue()
						} else {
							value = float64(dp.IntValue())
						}
					}
				}
			}
		}
	}
	return value, found
}

func dataPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	default:
		return pmetric.NewNumberDataPointSlice()
	}
}

func hasAttrs(dp pmetric.NumberDataPoint, want map[string]string) bool {
	if dp.Attributes().Len() != len(want) {
		return false
	}
	for key, value := range want {
		got, ok := dp.Attributes().Get(key)
		if !ok || got.AsString() != value {
			return false
		}
	}
	return true
}
