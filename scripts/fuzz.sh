#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded number of executions and prints what each
# did. Usage: scripts/fuzz.sh [RUNS_PER_TARGET] [TARGET...]
#   RUNS_PER_TARGET  executions per target (default 10000000)
#   TARGET           signature, event_to_access, entitlement_requests, billing_requests,
#                    tokens_file, caller_policy, certificate_identity, grpc_timeout, bridge_http
# Needs the nightly toolchain; installs cargo-fuzz when missing. The corpus grows in
# fuzz/corpus/<target> (kept in the repository); crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(signature event_to_access entitlement_requests billing_requests
             tokens_file caller_policy certificate_identity grpc_timeout bridge_http)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Release build without a sanitizer: these targets are safe Rust (`forbid(unsafe_code)`
# in every crate they call), so the fuzzer looks for panics, and executions are what count.
cargo +nightly fuzz build --release --sanitizer none
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    start=$(date +%s)
    log=$(mktemp)
    cargo +nightly fuzz run --release --sanitizer none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -runs="$runs" -max_len=4096 -print_final_stats=1 >"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }
    seconds=$(( $(date +%s) - start ))
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "$target: $executed executions in ${seconds}s, no crash; corpus $corpus inputs"
    rm -f "$log"
done
