#!/usr/bin/env bash
# Installs the outside tools the benchmark drives (Debian packages): h2load
# (nghttp2-client) for gRPC, wrk for the webhook bridge, valgrind for the `instructions`
# step. Does nothing if all are there.
set -euo pipefail
missing=()
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v wrk >/dev/null || missing+=(wrk)
command -v callgrind_control >/dev/null || missing+=(valgrind)
if [ ${#missing[@]} -eq 0 ]; then
    echo "h2load, wrk and valgrind are installed"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
$sudo apt-get install -y -q "${missing[@]}"
