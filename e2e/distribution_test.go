package e2e

import (
	"maps"
	"path/filepath"
	"testing"
)

// distributionBinary is built by `make otelcol`.
const distributionBinary = "../bin/otelcol-detectify"

// e2eSecret signs the webhooks of the tests that set DETECTIFY_WEBHOOK_SECRET.
const e2eSecret = "e2e-secret-5f1d0c7a9b3e4d28"

// distribution is otelcol-detectify running one of the example configs.
type distribution struct {
	*process
	webhookURL string
}

// startDistribution runs otelcol-detectify with examples/<example> itself,
// not a copy: env fills the example's ${env:...} placeholders, and the
// receiver gets a free loopback port. The collector's own metrics are
// switched off so that collectors running side by side do not compete for
// their default port, 8888. It returns once the receiver answers on its
// health path: receivers start last, so the whole pipeline is up by then.
func startDistribution(t *testing.T, example string, env map[string]string) *distribution {
	t.Helper()
	addr := freeAddr(t)
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["DETECTIFY_ENDPOINT"] = addr
	p := startProcess(t, distributionBinary, env,
		"--config="+filepath.Join("..", "examples", example),
		"--set=service.telemetry.metrics.level=none")
	waitHTTPOK(t, p, "http://"+addr+"/health")
	return &distribution{process: p, webhookURL: "http://" + addr + "/webhook"}
}
