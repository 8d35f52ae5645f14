#!/usr/bin/env bash
# The Python client (clients/python) against the real services: installs the package
# with `pip install` (its gRPC stubs generated from proto/ as it builds) into a virtual
# environment under target/, builds the services' binaries, and runs its pytest suite,
# which starts the Stripe emulator, billing and entitlement as processes and drives the
# clients, the Django guards and DRF's permission through the example project, and the
# Rust client's examples with curl's requests and grpcurl.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-client
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade "./clients/python[test]"

"$venv/bin/ruff" check clients/python
"$venv/bin/ruff" format --check clients/python

# The binaries and the Rust client's examples, with the features the workspace's test
# build resolves: after `cargo nextest run --workspace` (as in .ci/run) this builds
# nothing, where building the four packages alone would rebuild their dependencies.
cargo build -q --workspace --bins --tests --examples
CAIXA_BIN_DIR="$PWD/target/debug" "$venv/bin/pytest" -q clients/python/tests "$@"
