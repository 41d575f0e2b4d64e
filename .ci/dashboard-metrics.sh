#!/usr/bin/env bash
# Every metric the dashboard or the alert rules query is one the library
# exports: checked against a real /metrics text.
#   .ci/dashboard-metrics.sh METRICS_TEXT_FILE
# A name with colons is a recording rule: it must be recorded in alerts.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
metrics=$1
test -s "$metrics" || { echo "empty metrics text: $metrics" >&2; exit 1; }

# The queries only: the dashboard's expressions and variable queries, the
# rules without their comments and annotations.
queries() {
  grep -E '"(expr|definition)":' monitoring/dashboard.json
  grep -vE '^\s*#|^\s*(summary|description):' monitoring/alerts.yml
}
fail=0
# Recording-rule names (level:metric:operations) first, then the rest with
# them taken out, so their middle part is not read as a metric name.
recorded=$(queries | grep -oE '[a-z_]+:reliability_[a-z_]+:[a-z0-9_]+' | sort -u)
for name in $recorded; do
  if grep -qE "^\s*- record: $name\$" monitoring/alerts.yml; then
    echo "ok: $name (recorded in alerts.yml)"
  else
    echo "FAIL: $name is neither exported nor recorded" >&2
    fail=1
  fi
done
used=$(queries | sed -E 's/[a-z_]+:reliability_[a-z_]+:[a-z0-9_]+//g' \
  | grep -oE '\breliability_[a-z_]+' | sort -u)
[ -n "$used" ] || { echo "FAIL: no metric found in the dashboard and the rules" >&2; exit 1; }
for name in $used; do
  if grep -qE "^$name(\{| )" "$metrics"; then
    echo "ok: $name"
  else
    echo "FAIL: $name is queried but not in /metrics" >&2
    fail=1
  fi
done
exit $fail
