#!/usr/bin/env bash
# Automatic failover figures for docs/BENCHMARKS.md ("Failover (issue 4)"):
# three `tandem serve` members on loopback at remote_flush (ANY 1), the
# primary SIGKILLed ROUNDS times, measured from the kill to the first
# write a new primary acknowledges, then ROUNDS switchovers; and the
# lease's cost to write throughput, a plain primary against a one-member
# HA cluster, alternating, LEASE_ROUNDS rounds of 10 s each (the runs of
# one variant spread by 15-25% on the shared cores, so it takes many).
# Prints the tables (markdown) that hatest.TestRTO and hatest.TestLeaseCost
# log. TANDEM_HA_BINARY runs a prebuilt binary instead of building one.
#
#   bench/scripts/failover.sh [ROUNDS] [LEASE_ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-10}
lease_rounds=${2:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
TANDEM_RTO_ROUNDS=$rounds TANDEM_LEASE_ROUNDS=$lease_rounds TANDEM_LEASE_DURATION=10s \
  go test -count=1 -v -timeout 30m -run '^(TestRTO|TestLeaseCost)$' ./hatest/ >"$out" 2>&1 || {
  grep -v '^        time=' "$out" | tail -60
  exit 1
}
# The round lines, then the tables, without the test framework's indent.
grep -E '(failover|switchover) round|: [0-9]+ tx/s$' "$out" | sed 's/^ *//'
echo
grep -E '^ +\|' "$out" | sed 's/^ *//'
