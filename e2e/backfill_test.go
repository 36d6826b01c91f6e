package e2e

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// backfillConfig is crashConfig with the receiver's api block pointed at
// the fake Detectify API on @API@.
const backfillConfig = `
extensions:
  file_storage/detectify:
    directory: @STORAGE@

receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s
    metrics_flush_interval: 100ms
    storage: file_storage/detectify
    api:
      endpoint: @API@
      key: e2e-api-key
      secret: ZTJlLWFwaS1zZWNyZXQ=
      timeout: 60s

` + sinkExporters + `
service:
  extensions: [file_storage/detectify]
` + telemetrySection + sinkPipelines

// backfillScan is a scan with 130 findings of the levels Detectify sends
// messages for (and 75 low and information ones), which Detectify cuts
// short: 100 messages (its per-scan limit), 30 withheld.
func backfillScan(t *testing.T, domain string) ([][]byte, webhooksend.ScanSummary) {
	t.Helper()
	msgs, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{domain}, FindingsPerScan: 205, Titles: 22, Seed: 16,
	})
	s := scans[0]
	if s.Sent != webhooksend.MaxFindingsPerScan || s.Withheld != 30 || s.Found.Reported() != 130 {
		t.Fatalf("the scenario must send 100 of 130 and withhold 30: found %+v, sent %d, withheld %d", s.Found, s.Sent, s.Withheld)
	}
	return msgs, s
}

// findingRecords counts the sink's finding records of domain by source,
// and how often each finding id came.
func findingRecords(sink *otlpSink, domain string) (bySource map[string]int, byID map[string]int) {
	bySource, byID = map[string]int{}, map[string]int{}
	for _, r := range sink.snapshot() {
		if r.eventName != "detectify.finding" || r.attrs["detectify.domain"] != domain {
			continue
		}
		bySource[fmt.Sprint(r.attrs["detectify.finding.source"])]++
		byID[fmt.Sprint(r.attrs["detectify.finding.id"])]++
	}
	return bySource, byID
}

// checkEachFindingOnce waits past a second emission, then wants every
// finding of the levels fetched once at the sink: those sent by webhook,
// the rest from the API. It returns the records by source.
func checkEachFindingOnce(t *testing.T, sink *otlpSink, scan webhooksend.ScanSummary) map[string]int {
	t.Helper()
	time.Sleep(2 * time.Second) // a second emission would be here by now
	bySource, byID := findingRecords(sink, scan.Domain)
	if bySource["webhook"] != scan.Sent || bySource["api"] != scan.Withheld {
		t.Errorf("records by source %v, want %d from webhooks and %d from the API", bySource, scan.Sent, scan.Withheld)
	}
	for id, n := range byID {
		if n != 1 {
			t.Errorf("finding %s arrived %d times", id, n)
		}
	}
	for _, f := range scan.Findings {
		if (f.Level == "critical" || f.Level == "high" || f.Level == "medium") && byID[f.UUID] != 1 {
			t.Errorf("finding %s (%s, sent %v) arrived %d times", f.UUID, f.Level, f.Sent, byID[f.UUID])
		}
	}
	return bySource
}

// TestBackfillThroughTheDistribution plays a 130-finding scan, of which
// Detectify sends 100 messages, into the distribution with api: pointed at
// the sender's fake Detectify API. The sink must get every finding of the
// scan exactly once, 100 from webhooks and the rest from the API, and the
// counters must count each once. Then again with the collector SIGKILLed
// while the API holds its request, and restarted on its storage: the
// pending job is resumed, and still each finding arrives once.
func TestBackfillThroughTheDistribution(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "straight", true: "sigkill_mid_backfill"}[kill], func(t *testing.T) {
			domain := map[bool]string{false: "straight.backfill.example", true: "killed.backfill.example"}[kill]
			msgs, scan := backfillScan(t, domain)
			api, err := webhooksend.NewFakeAPI("e2e-api-key", "ZTJlLWFwaS1zZWNyZXQ=", []webhooksend.ScanSummary{scan}, webhooksend.FakeAPIOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if kill {
				api.FailNext(webhooksend.Failure{Delay: 30 * time.Second}) // held until the kill
			}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			sink := startOTLPSink(t)
			storage := t.TempDir()
			col := startCollector(t, "backfill", collectorConfig{text: backfillConfig, vars: map[string]string{
				"@STORAGE@": storage, "@SINK@": sink.url, "@API@": srv.URL + api.BasePath()}})
			sendMessages(t, col.webhookURL, e2eSecret, msgs)

			if kill {
				eventually(t, col.process, deliveryTimeout, "the backfill's request", func() error {
					if api.Requests() == 0 {
						return fmt.Errorf("no request yet")
					}
					return nil
				})
				col.kill()
				col.restart()
			}
			want := scan.Sent + scan.Withheld
			eventually(t, col.process, deliveryTimeout, "every finding at the sink", func() error {
				bySource, _ := findingRecords(sink, domain)
				if bySource["webhook"]+bySource["api"] < want {
					return fmt.Errorf("%v of %d", bySource, want)
				}
				return nil
			})
			bySource := checkEachFindingOnce(t, sink, scan)
			var counted float64
			eventually(t, col.process, deliveryTimeout, "the counters", func() error {
				page, err := detectifySeries(col.promURL)
				if err != nil {
					return err
				}
				counted = 0
				prefix := fmt.Sprintf("detectify_findings_total{detectify_domain=%q,", domain)
				for k, v := range counterSeries(page) {
					if strings.HasPrefix(k, prefix) {
						counted += v
					}
				}
				if counted != float64(scan.Found.Reported()) {
					return fmt.Errorf("findings counted %v, Detectify's report says %d", counted, scan.Found.Reported())
				}
				return nil
			})
			t.Logf("%s: %d findings found, %d reported, %d by webhook, %d from the API (%d API requests), counted %v",
				domain, scan.Found.Total(), scan.Found.Reported(), bySource["webhook"], bySource["api"], api.Requests(), counted)
		})
	}
}

// backfillReplicaConfig is replicaConfig with the api block.
const backfillReplicaConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s
    metrics_flush_interval: 100ms
    shared_state:
      redis:
        endpoint: @REDIS@
        replica_id: @REPLICA@
    api:
      endpoint: @API@
      key: e2e-api-key
      secret: ZTJlLWFwaS1zZWNyZXQ=
      timeout: 90s

` + sinkExporters + `
service:
` + telemetrySection + sinkPipelines

// TestBackfillReplicaKilledMidBackfill plays the scan into one replica of
// two sharing a real redis-server; that replica takes the backfill and is
// SIGKILLed while the API holds its request. The other replica takes the
// job over once its lease ends and completes it: the sink gets every
// finding exactly once.
func TestBackfillReplicaKilledMidBackfill(t *testing.T) {
	const domain = "replicas.backfill.example"
	msgs, scan := backfillScan(t, domain)
	api, err := webhooksend.NewFakeAPI("e2e-api-key", "ZTJlLWFwaS1zZWNyZXQ=", []webhooksend.ScanSummary{scan}, webhooksend.FakeAPIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api.FailNext(webhooksend.Failure{Delay: 2 * time.Minute}) // held until the kill
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	redis := startRedis(t)
	sink := startOTLPSink(t)
	replica := func(i int) *collector {
		return startCollector(t, fmt.Sprintf("backfill-replica%d", i), collectorConfig{text: backfillReplicaConfig, vars: map[string]string{
			"@REDIS@": redis.addr, "@REPLICA@": fmt.Sprintf("replica-%d", i), "@SINK@": sink.url, "@API@": srv.URL + api.BasePath(),
		}})
	}
	first := replica(0)
	sendMessages(t, first.webhookURL, e2eSecret, msgs)
	eventually(t, first.process, deliveryTimeout, "the first replica's backfill request", func() error {
		if api.Requests() == 0 {
			return fmt.Errorf("no request yet")
		}
		return nil
	})
	first.kill()
	killed := time.Now()

	second := replica(1)
	want := scan.Sent + scan.Withheld
	eventually(t, second.process, 2*time.Minute, "every finding at the sink", func() error {
		bySource, _ := findingRecords(sink, domain)
		if bySource["webhook"]+bySource["api"] < want {
			return fmt.Errorf("%v of %d", bySource, want)
		}
		return nil
	})
	t.Logf("taken over %s after the kill", time.Since(killed).Round(time.Second))
	checkEachFindingOnce(t, sink, scan)
	eventually(t, second.process, deliveryTimeout, "the last-scan gauges from Redis", func() error {
		page, err := detectifySeries(second.promURL)
		if err != nil {
			return err
		}
		backfilled := page[fmt.Sprintf(`detectify_scan_findings_backfilled{detectify_domain=%q}`, domain)]
		if backfilled != float64(scan.Withheld) || page[undeliveredKey(domain)] != 0 {
			return fmt.Errorf("backfilled %v, undelivered %v; want %d and 0", backfilled, page[undeliveredKey(domain)], scan.Withheld)
		}
		return nil
	})
}
