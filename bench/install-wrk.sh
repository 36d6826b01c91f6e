#!/usr/bin/env bash
# Installs wrk, the macro benchmark's load generator (Debian package `wrk`),
# when it is not on PATH. Idempotent; runs apt-get update once, installs
# without recommends and without prompts; needs root or sudo.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-wrk: wrk is missing and there is no apt-get; install wrk (https://github.com/wg/wrk) by hand" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-wrk: need root to apt-get install wrk" >&2
    exit 1
  fi
fi
echo "install-wrk: installing wrk"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
command -v wrk >/dev/null 2>&1 || { echo "install-wrk: wrk still missing" >&2; exit 1; }
