#!/usr/bin/env bash
# The exposition against its real consumer: a Prometheus server (Debian's
# prometheus package) scrapes the demo's /metrics every second, with
# monitoring/alerts.yml loaded. Through Prometheus's HTTP API: up == 1,
# reliability_calls_total has samples, every rule loaded and evaluates
# without error, and every dashboard query runs and returns series. Also
# checks the dashboard's and rules' metric names against the same /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/demo.sh

work=$(mktemp -d)
prom_pid=""
cleanup() {
  if [ -n "$prom_pid" ]; then
    kill "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  stop_demo
  rm -rf "$work"
}
trap cleanup EXIT
start_demo "$work" 180

# A free port for Prometheus, near its usual 9090.
port=""
for candidate in $(seq 19090 19099); do
  if ! curl -s -o /dev/null "http://127.0.0.1:$candidate/"; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free port for Prometheus" >&2; exit 1; }
api="http://127.0.0.1:$port/api/v1"

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/monitoring/alerts.yml
scrape_configs:
  - job_name: reliability-demo
    static_configs:
      - targets: ["$DEMO_ADDR"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

query() { # query PROMQL -> the API's JSON answer
  curl -fsS --max-time 5 "$api/query" --data-urlencode "query=$1"
}
# Polls PROMQL until its one value is VALUE, for at most 60 s.
wait_for() {
  local expr=$1 want=$2 deadline=$((SECONDS + 60)) answer=""
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$prom_pid" 2>/dev/null || { cat "$work/prometheus.log" >&2; echo "FAIL: Prometheus exited" >&2; exit 1; }
    answer=$(query "$expr" 2>/dev/null || true)
    if grep -qE "\"value\":\[[0-9.e+]+,\"$want\"\]" <<<"$answer"; then
      echo "ok: $expr == $want"
      return 0
    fi
    sleep 0.5
  done
  echo "FAIL: $expr never became $want; last answer: $answer" >&2
  tail -20 "$work/prometheus.log" >&2
  exit 1
}

wait_for 'up{job="reliability-demo"}' 1
wait_for 'count(reliability_calls_total{job="reliability-demo"}) > bool 0' 1
# Three scrapes, so that rate() over the dashboard's window has samples.
wait_for 'count_over_time(up{job="reliability-demo"}[1m]) >= bool 3' 1
wait_for 'sum(reliability_calls_total{job="reliability-demo"}) > bool 0' 1
echo "$(query 'count(reliability_calls_total)')" | grep -o '"value":\[[^]]*\]' | sed 's/^/  reliability_calls_total series: /'

# The rules: all loaded, none failing to evaluate.
rules=$(curl -fsS --max-time 5 "$api/rules")
loaded=$(grep -o '"name":"[^"]*"' <<<"$rules" | wc -l)
[ "$loaded" -ge 13 ] || { echo "FAIL: only $loaded rules and groups loaded" >&2; exit 1; }
if grep -q '"health":"err"' <<<"$rules"; then
  echo "FAIL: a rule fails to evaluate: $rules" >&2
  exit 1
fi
echo "ok: $loaded rules and groups loaded, none failing"

# The dashboard's queries, with its variables set to everything.
checked=0
while IFS= read -r expr; do
  expr=${expr//\\\"/\"}
  expr=${expr//\$job/.*}
  expr=${expr//\$component/.*}
  expr=${expr//\$__rate_interval/1m}
  answer=$(query "$expr") || { echo "FAIL: Prometheus refused: $expr" >&2; exit 1; }
  if grep -q '"result":\[\]' <<<"$answer"; then
    echo "FAIL: no series for: $expr" >&2
    exit 1
  fi
  checked=$((checked + 1))
done < <(sed -nE 's/^\s*"expr": "(.*)",?$/\1/p' monitoring/dashboard.json)
[ "$checked" -ge 15 ] || { echo "FAIL: found only $checked dashboard queries" >&2; exit 1; }
echo "ok: all $checked dashboard queries run and return series"

curl -fsS "http://$DEMO_ADDR/metrics" >"$work/metrics.txt"
.ci/dashboard-metrics.sh "$work/metrics.txt"
