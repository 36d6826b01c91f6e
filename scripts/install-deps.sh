#!/usr/bin/env bash
# Installs the external programs the rule tests and the e2e tests run:
# prometheus + promtool (Debian package `prometheus`), Alertmanager + amtool
# (Debian package `prometheus-alertmanager`, whose server binary is called
# prometheus-alertmanager), redis-server (the replicas' shared state),
# node + npm (the LogQL syntax check) and nginx (the reverse proxy of the
# source-pinning example, Debian package nginx-light). Arguments
# BINARY=PACKAGE ask for other programs instead, e.g.
# `scripts/install-deps.sh wrk=wrk` for the benchmark.
#
# Idempotent: does nothing when every binary is already on PATH. Otherwise it
# runs apt-get update once and installs only the missing packages, without
# recommends and without prompts. Needs root (or sudo) and a Debian-based
# machine; works unattended in CI. Installing does not start any service.
set -euo pipefail

# binary -> Debian package providing it
declare -A want=()
if [ $# -eq 0 ]; then
  want=(
    [prometheus]=prometheus
    [promtool]=prometheus
    [prometheus-alertmanager]=prometheus-alertmanager
    [amtool]=prometheus-alertmanager
    [redis-server]=redis-server
    [node]=nodejs
    [npm]=npm
    [nginx]=nginx-light
  )
fi
for arg in "$@"; do
  want[${arg%%=*}]=${arg#*=}
done

missing=()
for bin in "${!want[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    pkg=${want[$bin]}
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: ${!want[*]} installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get here; install the Debian/Ubuntu packages ${missing[*]} (or the upstream binaries) by hand" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

# The Debian packages ship systemd units; installing in a container or CI
# does not start them, and nothing here relies on them running.
for bin in "${!want[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "install-deps: $bin still missing after installing ${missing[*]}" >&2
    exit 1
  fi
done
echo "install-deps: done"
