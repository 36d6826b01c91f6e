package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// peerBinary is built by `make peer` from e2e/peer/builder-config.yaml.
const peerBinary = "../bin/otelcol-peer"

// peer is otelcol-peer standing in for a backend: what it receives over
// OTLP/HTTP (also under Loki's /otlp prefix) or Splunk HEC it writes to
// JSON files, one export request a line.
type peer struct {
	*process
	otlpEndpoint string // OTLP/HTTP base URL: /v1/logs, /v1/metrics
	lokiEndpoint string // Loki's OTLP base URL: /otlp/v1/logs
	hecEndpoint  string // Splunk HEC event endpoint
	logsFile     string
	metricsFile  string
}

// peerConfig receives on every protocol the examples export with. The HEC
// receiver keeps the token it was sent as com.splunk.hec.access_token.
const peerConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: @OTLP@
  otlp/loki:
    protocols:
      http:
        endpoint: @LOKI@
        logs_url_path: /otlp/v1/logs
  splunk_hec:
    endpoint: @HEC@
    access_token_passthrough: true

exporters:
  file/logs:
    path: @LOGS_FILE@
  file/metrics:
    path: @METRICS_FILE@

extensions:
  health_check:
    endpoint: @HEALTH@

service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp, otlp/loki, splunk_hec]
      exporters: [file/logs]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
`

// startPeer runs otelcol-peer on free loopback ports and returns once its
// health check reports every pipeline ready.
func startPeer(t *testing.T) *peer {
	t.Helper()
	dir := t.TempDir()
	otlp, loki, hec, health := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := &peer{
		otlpEndpoint: "http://" + otlp,
		lokiEndpoint: "http://" + loki + "/otlp",
		hecEndpoint:  "http://" + hec + "/services/collector",
		logsFile:     filepath.Join(dir, "logs.json"),
		metricsFile:  filepath.Join(dir, "metrics.json"),
	}
	config := strings.NewReplacer(
		"@OTLP@", otlp, "@LOKI@", loki, "@HEC@", hec, "@HEALTH@", health,
		"@LOGS_FILE@", p.logsFile, "@METRICS_FILE@", p.metricsFile,
	).Replace(peerConfig)
	configFile := filepath.Join(dir, "peer.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p.process = startProcess(t, peerBinary, nil, "--config="+configFile)
	waitHTTPOK(t, p.process, "http://"+health+"/")
	return p
}
