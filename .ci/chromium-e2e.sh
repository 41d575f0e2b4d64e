#!/usr/bin/env bash
# The status page (GET /) in a real headless Chromium: after the page has
# fetched /report, its DOM shows every component the demo's /metrics lists,
# each with the health /metrics gives it. The page loads nothing from
# elsewhere, so this runs on a closed network.
#   UPDATE_SCREENSHOT=1 .ci/chromium-e2e.sh   also rewrites docs/status-page.png
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/demo.sh

work=$(mktemp -d)
trap 'stop_demo; rm -rf "$work"' EXIT
start_demo "$work" 120

browse() { # browse OUTPUT_FLAGS...: one headless run with a fresh profile
  local profile
  profile=$(mktemp -d -p "$work")
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$profile" --virtual-time-budget=5000 --window-size=1280,900 \
    "$@" "http://$DEMO_ADDR/" 2>>"$work/chromium.log"
}

browse --dump-dom >"$work/dom.html"
curl -fsS "http://$DEMO_ADDR/metrics" >"$work/metrics.txt"

names=("healthy" "degraded" "unhealthy")
checked=0
while read -r component level; do
  expected="data-component=\"$component\" data-health=\"${names[$level]}\""
  if ! grep -qF "$expected" "$work/dom.html"; then
    echo "FAIL: the page does not show $component as ${names[$level]}" >&2
    grep -o 'data-component="[^"]*" data-health="[^"]*"' "$work/dom.html" >&2 || true
    exit 1
  fi
  echo "ok: $component is ${names[$level]} on the page"
  checked=$((checked + 1))
done < <(sed -n 's/^reliability_component_health{component="\([^"]*\)"} \([0-9]\)$/\1 \2/p' "$work/metrics.txt")
[ "$checked" -ge 2 ] || { echo "FAIL: expected the demo's two components, saw $checked" >&2; exit 1; }

# Each instance /metrics lists (a component_id label) has its row, with the same health.
instances=0
while read -r component id level; do
  expected="data-component=\"$component\" data-instance=\"$id\" data-health=\"${names[$level]}\""
  if ! grep -qF "$expected" "$work/dom.html"; then
    echo "FAIL: the page does not show instance $id of $component as ${names[$level]}" >&2
    grep -o 'data-instance="[^"]*" data-health="[^"]*"' "$work/dom.html" >&2 || true
    exit 1
  fi
  echo "ok: instance $id of $component is ${names[$level]} on the page"
  instances=$((instances + 1))
done < <(sed -n 's/^reliability_component_health{component="\([^"]*\)",component_id="\([^"]*\)"} \([0-9]\)$/\1 \2 \3/p' "$work/metrics.txt")
[ "$instances" -ge 2 ] || { echo "FAIL: expected the demo's two instances, saw $instances" >&2; exit 1; }

# The page's own parts: live indicator, the summary tiles, both recent lists.
for needle in 'id="live" data-state="live"' 'class="tile"' 'Recent health transitions' \
  'data-role="circuit"' 'class="hist"' 'class="badge recovered"'; do
  grep -qF "$needle" "$work/dom.html" || { echo "FAIL: the page lacks $needle" >&2; exit 1; }
done
echo "ok: the page is live and shows tiles, circuits, histograms and recoveries"

if [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
  browse --screenshot="$PWD/docs/status-page.png"
  echo "wrote docs/status-page.png"
fi
