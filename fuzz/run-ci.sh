#!/usr/bin/env bash
# Builds the fuzz targets (cargo-fuzz / libFuzzer, AddressSanitizer) on the
# stable toolchain and runs each for FUZZ_SECONDS seconds (default 30), one
# at a time, niced. Prints one line per target and exits non-zero when any
# target crashes (panic, failed assertion, sanitizer report, timeout, OOM).
#
#   fuzz/run-ci.sh                         # every target, 30 s each (CI)
#   FUZZ_SECONDS=600 fuzz/run-ci.sh scope  # one target, 10 minutes
#
# Environment: FUZZ_SECONDS (per target), FUZZ_SKIP_BUILD=1 (reuse the
# binaries already built), FUZZ_TIMEOUT (seconds one input may take, 10).
# New corpus entries go to fuzz/target/corpus/<target> (not committed); the
# seeds in fuzz/corpus/<target> are only read. A crash is written to
# fuzz/artifacts/<target>/; replay it with the binary and the file's path.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
FUZZ_DIR=fuzz
SECONDS_EACH=${FUZZ_SECONDS:-30}
TIMEOUT=${FUZZ_TIMEOUT:-10}
ALL_TARGETS=(params basic_auth redirect_uri scope pkce plugin_messages whmcs_envelope id_token_hint)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

# cargo-fuzz passes -Z flags (-Zsanitizer=address) to rustc: the stable
# compiler accepts them with RUSTC_BOOTSTRAP=1. No nightly toolchain needed.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked --version '^0.13' || { echo "cannot install cargo-fuzz" >&2; exit 2; }
fi

start=$(date +%s)
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    echo "building ${#TARGETS[@]} fuzz target(s) (release, debug assertions, ASan)"
    if [ "$#" -eq 0 ]; then
        nice -n 19 cargo fuzz build || { echo "the fuzz build failed" >&2; exit 2; }
    else
        for t in "${TARGETS[@]}"; do
            nice -n 19 cargo fuzz build "$t" || { echo "the build of $t failed" >&2; exit 2; }
        done
    fi
fi
built=$(date +%s)

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$FUZZ_DIR/target/$triple/release"
passed=0
failed=0
for t in "${TARGETS[@]}"; do
    work="$FUZZ_DIR/target/corpus/$t"
    artifacts="$FUZZ_DIR/artifacts/$t"
    log="$FUZZ_DIR/target/logs/$t.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    nice -n 19 "$bin_dir/$t" "$work" "$FUZZ_DIR/corpus/$t" \
        -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf '%-16s ok     %10s runs %7s exec/s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-cov: ?}"
    else
        failed=$((failed + 1))
        crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        printf '%-16s CRASH  exit %s after %s runs; input: %s; log: %s\n' "$t" "$rc" "${runs:-?}" "${crash:-?}" "$log"
        grep -m1 -A12 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/    /'
    fi
done
end=$(date +%s)
echo "build $((built - start)) s, fuzzing $((end - built)) s, total $((end - start)) s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
