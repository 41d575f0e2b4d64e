#!/usr/bin/env bash
# Runs every bench once and prints one markdown table of medians and ratios
# from that run (then the targets of issue 16, met or missed).
#
#   benches/report.sh                 # the whole suite, about 3 minutes
#   benches/report.sh 'call/'         # a criterion filter: only those benches
#
# The table goes to stdout, criterion's own output to stderr. The run's
# estimates land in a directory of their own ($CARGO_TARGET_DIR/criterion-report,
# emptied first), so the table never mixes two runs and leaves the usual
# target/criterion baselines alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/Cargo.toml"
target="${CARGO_TARGET_DIR:-$here/target}"
export CARGO_TARGET_DIR="$target"
export CRITERION_HOME="$target/criterion-report"
rm -rf "$CRITERION_HOME"

load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
cargo bench --manifest-path "$manifest" --bench overhead -- "$@" 1>&2
cargo bench --manifest-path "$manifest" --bench instances -- "$@" 1>&2
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on ${cpu:-an unknown CPU}, nproc $(nproc), $(rustc --version)."
echo "Load average before ${load_before}, after ${load_after}. Medians of criterion's samples."
echo
cargo run --quiet --release --manifest-path "$manifest" --bin report -- "$CRITERION_HOME"
