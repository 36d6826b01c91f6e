// Package e2e holds the end-to-end tests: they run the built otelcol-detectify
// distribution against real peers (a second collector, Prometheus,
// Alertmanager) on loopback. `make e2e` builds what they need first.
package e2e
