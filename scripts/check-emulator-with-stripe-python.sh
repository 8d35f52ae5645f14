#!/usr/bin/env bash
# Checks the Stripe emulator against Stripe's own Python library: the objects it parses,
# the error classes it raises, request ids and pagination
# (tests/stripe-emulator/python). Installs the library in a virtual environment under
# target/ on first use, starts the emulator on a free port, runs pytest, stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-stripe
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "stripe==16.1.0" "pytest==8.*"
fi

cargo build -q -p stripe-emulator --bin stripe-emulator
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STRIPE_EMULATOR_ADDR="127.0.0.1:$port" target/debug/stripe-emulator >target/python-stripe-emulator.log 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_emulator/clock')" 2>/dev/null && break
    sleep 0.1
done
EMULATOR_URL="http://127.0.0.1:$port" "$venv/bin/pytest" -q tests/stripe-emulator/python
