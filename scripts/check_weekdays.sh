#!/usr/bin/env bash
# Runs tests with the machine clock set to each day of one week (libfaketime, Debian's
# `faketime`), to show that no test depends on the weekday. Extra arguments go to pytest;
# by default the suites that use the demo data and relative dates.
#   scripts/check_weekdays.sh                    # demo-data suites, 7 runs
#   scripts/check_weekdays.sh tests/             # the whole suite, 7 runs
set -uo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || apt-get install -y -q faketime >/dev/null
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/commander tests/kpis tests/core/test_seed_demo.py tests/commerce/test_funnel.py)
failed=0
for day in 07 08 09 10 11 12 13; do  # Tuesday 7 to Monday 13 December 2027
  moment="2027-12-$day 09:30:00"
  printf '%s (%s): ' "$moment" "$(date -u -d "$moment" +%A)"
  if faketime -f "@$moment" .venv/bin/python -m pytest -q -p no:cacheprovider "${args[@]}" >"var/weekday-$day.log" 2>&1; then
    tail -n 1 "var/weekday-$day.log"
  else
    failed=1; echo "FAILED (var/weekday-$day.log)"; tail -n 5 "var/weekday-$day.log"
  fi
done
exit $failed
