#!/usr/bin/env bash
# The status page with 1,000 instances (`examples/fleet`) in a real headless
# Chromium: each component card counts its instances by health as /metrics
# does, shows a row for every instance that is unhealthy or needs attention,
# before any other, and counts the rest in one line instead of a row each.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/examples/fleet"
[ -x "$bin" ] || { echo "missing $bin: cargo build --example fleet" >&2; exit 1; }

work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_DOM:-}" ] && cp "$work/dom.html" "$KEEP_DOM"; rm -rf "$work"' EXIT
"$bin" --serve 127.0.0.1:0 --linger 120 >"$work/fleet.log" 2>&1 &
pid=$!
deadline=$((SECONDS + 60))
until grep -q '^finished in' "$work/fleet.log"; do
  if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    echo "the fleet did not finish its run:" >&2; cat "$work/fleet.log" >&2; exit 1
  fi
  sleep 0.2
done
addr=$(grep -o 'serving http://[0-9.]*:[0-9]*' "$work/fleet.log" | head -1 | sed 's|serving http://||')
cat "$work/fleet.log"

curl -fsS "http://$addr/metrics" >"$work/metrics.txt"
curl -fsS "http://$addr/report" >"$work/report.json"
curl -fsS "http://$addr/status" >"$work/status.json"
promtool check metrics <"$work/metrics.txt"
echo "ok: promtool check metrics passes the fleet's /metrics"
echo "/metrics: $(grep -vc '^#' "$work/metrics.txt") series, $(wc -c <"$work/metrics.txt") bytes; /report: $(wc -c <"$work/report.json") bytes; /status (what the page reads): $(wc -c <"$work/status.json") bytes"

start=$(date +%s%N)
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run \
  --user-data-dir="$work/profile" --virtual-time-budget=10000 --window-size=1280,900 \
  --dump-dom "http://$addr/" >"$work/dom.html" 2>>"$work/chromium.log"
echo "chromium loaded and rendered the page in $((($(date +%s%N) - start) / 1000000)) ms"

level() { # level N: instances of `fleet` whose health gauge is N on /metrics
  grep -c "^reliability_component_health{component=\"fleet\",component_id=\"[^\"]*\"} $1\$" "$work/metrics.txt" || true
}
attention=$(grep -c '^reliability_needs_attention{component="fleet",component_id="[^"]*"} 1$' "$work/metrics.txt" || true)
healthy=$(level 0) degraded=$(level 1) unhealthy=$(level 2)
total=$((healthy + degraded + unhealthy))
[ "$total" -eq 1000 ] || { echo "FAIL: /metrics lists $total instances of fleet, not 1000" >&2; exit 1; }
[ "$unhealthy" -gt 0 ] && [ "$degraded" -gt 0 ] && [ "$attention" -gt 0 ] \
  || { echo "FAIL: the fleet should have unhealthy, degraded and flagged instances" >&2; exit 1; }

summary=$(grep -o '<div[^>]*data-role="instances-summary"[^>]*>' "$work/dom.html" | head -1)
[ -n "$summary" ] || { echo "FAIL: the page has no instance summary" >&2; exit 1; }
attr() { sed -n "s/.* data-$1=\"\([0-9]*\)\".*/\1/p" <<<"$summary"; }
for pair in "total:$total" "healthy:$healthy" "degraded:$degraded" "unhealthy:$unhealthy" "attention:$attention"; do
  name=${pair%%:*} want=${pair#*:}
  got=$(attr "$name")
  [ "$got" = "$want" ] || { echo "FAIL: the page counts $got $name instances, /metrics $want" >&2; exit 1; }
done
echo "ok: the page counts $total instances as /metrics does: $healthy healthy, $degraded degraded, $unhealthy unhealthy, $attention need attention"

# Rows in page order: flagged (unhealthy or needing attention) ones first.
grep -o '<tr data-component="fleet" data-instance="[^"]*" data-health="[^"]*" data-attention="[01]"' "$work/dom.html" \
  | sed 's/.*data-instance="\([^"]*\)" data-health="\([^"]*\)" data-attention="\([01]\)"/\1 \2 \3/' >"$work/rows.txt"
rows=$(wc -l <"$work/rows.txt")
flagged=$(grep -cE ' unhealthy [01]$| [a-z]+ 1$' "$work/rows.txt" || true)
expected_flagged=$(sed -n 's/^reliability_component_health{component="fleet",component_id="\([^"]*\)"} 2$/\1/p; s/^reliability_needs_attention{component="fleet",component_id="\([^"]*\)"} 1$/\1/p' "$work/metrics.txt" | sort -u | wc -l)
[ "$flagged" -eq "$expected_flagged" ] || { echo "FAIL: $flagged flagged rows, /metrics has $expected_flagged flagged instances" >&2; exit 1; }
head -n "$flagged" "$work/rows.txt" | grep -qvE ' unhealthy [01]$| [a-z]+ 1$' \
  && { echo "FAIL: a row that is neither unhealthy nor flagged comes before a flagged one" >&2; head -n "$flagged" "$work/rows.txt" >&2; exit 1; }
max=$((flagged > 20 ? flagged : 20))
[ "$rows" -le "$max" ] || { echo "FAIL: $rows instance rows, at most $max expected" >&2; exit 1; }
rest=$(sed -n 's/.*data-role="instances-rest" data-count="\([0-9]*\)".*/\1/p' "$work/dom.html" | head -1)
[ "$((rows + ${rest:-0}))" -eq "$total" ] || { echo "FAIL: $rows rows and ${rest:-0} counted do not make $total" >&2; exit 1; }
echo "ok: $flagged flagged instances first, $rows rows in all, the other $rest counted in one line"
