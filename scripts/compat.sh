#!/usr/bin/env bash
# make compat: proves the receiver against the newest collector release
# served here (core v0.165.0, stable modules v1.71.0, contrib v0.165.1),
# while its go.mod stays at the oldest release it supports.
#
#  1. In a copy of the work tree (build/compat/receiver), every collector
#     module go.mod names is upgraded: core modules to v1.71.0 where that
#     version exists, else v0.165.0; contrib modules to v0.165.1, else
#     v0.165.0. Then the receiver's unit tests run there with -race.
#  2. A small ocb v0.165.0 distribution (compat/builder-config.yaml) is
#     built with that copy, and run: the seed messages of both formats must
#     be accepted and counted.
#
# Modules come from the module cache or the proxy alone (GOPROXY, without
# `direct`); a 403/404 from the proxy means "not served", and such a module
# is kept at its version and named in the output.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export GOPROXY=${GOPROXY_ONLY:-https://proxy.golang.org} GOFLAGS=-buildvcs=false
CORE=v0.165.0 STABLE=v1.71.0 CONTRIB=v0.165.1 CONTRIB_BASE=v0.165.0

work=$root/build/compat
rm -rf "$work/receiver"
mkdir -p "$work/receiver"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/receiver"
cd "$work/receiver"

served() { go mod download -json "$1@$2" >/dev/null 2>&1; }

targets=()
notserved=()
while read -r mod _; do
  case $mod in
    go.opentelemetry.io/collector/*)
      if served "$mod" "$STABLE"; then targets+=("$mod@$STABLE")
      elif served "$mod" "$CORE"; then targets+=("$mod@$CORE")
      else notserved+=("$mod"); fi ;;
    github.com/open-telemetry/opentelemetry-collector-contrib/*)
      if served "$mod" "$CONTRIB"; then targets+=("$mod@$CONTRIB")
      elif served "$mod" "$CONTRIB_BASE"; then targets+=("$mod@$CONTRIB_BASE")
      else notserved+=("$mod"); fi ;;
  esac
done < <(go list -m -f '{{if not .Main}}{{.Path}} {{.Version}}{{end}}' all 2>/dev/null | grep -E '^(go.opentelemetry.io/collector/|github.com/open-telemetry/opentelemetry-collector-contrib/)')

[ ${#targets[@]} -gt 0 ] || { echo "compat: no collector module to upgrade: go list failed?"; exit 1; }
echo "compat: upgrading ${#targets[@]} collector modules"
[ ${#notserved[@]} -eq 0 ] || echo "compat: not served at this release, kept: ${notserved[*]}"
go get "${targets[@]}" >/dev/null
go mod tidy
echo "compat: the receiver now builds against:"
go list -m go.opentelemetry.io/collector/component go.opentelemetry.io/collector/config/confighttp \
  go.opentelemetry.io/collector/receiver go.opentelemetry.io/collector/pdata
# Proven against the release only if it is the one built against.
for want in "go.opentelemetry.io/collector/receiver/receiverhelper $CORE" "go.opentelemetry.io/collector/receiver $STABLE"; do
  got=$(go list -m -f '{{.Path}} {{.Version}}' "${want% *}")
  [ "$got" = "$want" ] || { echo "compat: $got, want $want"; exit 1; }
done

echo "compat: unit tests with -race"
go vet ./...
DETECTIFY_LOSS_WEBHOOKS=5000 go test -race -count=1 ./...

echo "compat: ocb $CORE distribution"
cd "$root/internal/tools/ocb-newest"
go build -o "$work/ocb" go.opentelemetry.io/collector/cmd/builder
cd "$work"
cp "$root/compat/builder-config.yaml" manifest.yaml
"$work/ocb" --config=manifest.yaml
binary=$work/otelcol-compat/otelcol-compat

echo "compat: smoke run"
# Two ports at once, both bound while chosen, so they differ.
free_ports() { python3 -c 'import socket; s=[socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])'; }
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
read -r port metrics_port < <(free_ports)
export COMPAT_ENDPOINT=127.0.0.1:$port COMPAT_METRICS_ENDPOINT=127.0.0.1:$metrics_port
export COMPAT_SECRET=compat-secret-0123456789 COMPAT_STORAGE_DIR=$work/storage
rm -rf "$COMPAT_STORAGE_DIR" && mkdir -p "$COMPAT_STORAGE_DIR"
"$binary" --config="$root/compat/collector.yaml" >"$work/collector.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  fetch "http://$COMPAT_ENDPOINT/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$work/collector.log"; exit 1; }
  sleep 0.2
done
cd "$work/receiver"
for format in classic current; do
  go run ./cmd/detectify-send -url "http://$COMPAT_ENDPOINT/webhook" -secret "$COMPAT_SECRET" -seed -format "$format"
done
metrics=""
for _ in $(seq 50); do
  metrics=$(fetch "http://$COMPAT_METRICS_ENDPOINT/metrics" 2>/dev/null || true)
  grep -q 'detectify_findings_total{.*detectify_finding_severity="critical"' <<<"$metrics" && break
  sleep 0.2
done
grep 'detectify_findings_total{' <<<"$metrics"
grep -q 'detectify_findings_total{.*detectify_domain="my.domain".*detectify_finding_severity="high".*} 1' <<<"$metrics"
grep -q 'detectify_findings_total{.*detectify_domain="app.example.com".*detectify_finding_severity="critical".*} 1' <<<"$metrics"
# The logs pipeline batches (200ms): the record may print after the counts.
for _ in $(seq 50); do
  grep -q 'detectify.finding.title: Str(SQL Injection)' "$work/collector.log" && break
  sleep 0.2
done
grep -q 'detectify.finding.title: Str(SQL Injection)' "$work/collector.log"
kill -TERM $pid
wait $pid
echo "compat: the receiver works on collector $CORE"
