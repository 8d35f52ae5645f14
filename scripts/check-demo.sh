#!/usr/bin/env bash
# The demo page that `cargo stack` serves, driven in headless Chromium from the pricing
# table to access (tests/browser). Installs what it needs the way the other tools are
# installed: Debian's chromium and chromium-driver when missing, and selenium with pytest
# in a virtual environment under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
    $sudo_ apt-get update -q
    $sudo_ apt-get install -y -q chromium chromium-driver
fi
venv=target/browser-test
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "selenium>=4.20,<5" "pytest>=8,<9" "ruff>=0.6"
"$venv/bin/ruff" check tests/browser
"$venv/bin/ruff" format --check tests/browser
cargo build -q -p caixa-stack
"$venv/bin/pytest" -q tests/browser "$@"
