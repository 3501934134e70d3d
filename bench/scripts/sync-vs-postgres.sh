#!/usr/bin/env bash
# remote_flush against PostgreSQL, interleaved: each round runs Tandem (a
# primary and two replicas as processes on loopback, --sync-standbys
# "ANY 1 (n2,n3)", tandem bench --workload insert --commit remote_flush at
# 8 clients and at 1 client) and then PostgreSQL's streaming baseline
# (bench/postgres/pgrepl-bench.sh, synchronous_standby_names 'ANY 1 (s1,s2)')
# with the same shape. Interleaving keeps the two sides in the same minute
# on a shared machine whose speed drifts.
#
#   bench/scripts/sync-vs-postgres.sh [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
dur=${2:-5s}
[[ "$dur" =~ ^[0-9]+s$ ]] || { echo "DURATION must be whole seconds, like 5s" >&2; exit 2; }
secs=${dur%s}
work=$(mktemp -d)
bin=$work/tandem
secret=bench-secret-0123456789
go build -o "$bin" ./cmd/tandem
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "sync-vs-postgres: failed (exit $rc); logs kept in $work" >&2
    for f in "$work"/*.log "$work"/pg.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitready() { for _ in $(seq 400); do curl -sf "127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; echo "node on $1 not ready" >&2; return 1; }
line() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%8.0f tps  avg %.3f ms  p50 %.3f ms  p99 %.3f ms" % (d["tps"], d["mean_ms"], d["p50_ms"], d["p99_ms"]))'; }

for r in $(seq "$rounds"); do
  rm -rf "$work"/n1 "$work"/n2 "$work"/n3
  h1=$(freeport); h2=$(freeport); h3=$(freeport); r1=$(freeport)
  "$bin" serve --node-id n1 --data-dir "$work/n1" --http-addr "127.0.0.1:$h1" --repl-addr "127.0.0.1:$r1" \
    --cluster-secret "$secret" --sync-standbys "ANY 1 (n2,n3)" 2>>"$work/n1.log" & pids+=($!)
  waitready "$h1"
  "$bin" serve --node-id n2 --data-dir "$work/n2" --http-addr "127.0.0.1:$h2" --primary "127.0.0.1:$r1" --cluster-secret "$secret" 2>>"$work/n2.log" & pids+=($!)
  "$bin" serve --node-id n3 --data-dir "$work/n3" --http-addr "127.0.0.1:$h3" --primary "127.0.0.1:$r1" --cluster-secret "$secret" 2>>"$work/n3.log" & pids+=($!)
  waitready "$h2"; waitready "$h3"
  # An unreported warm-up, as pgrepl-bench.sh gives PostgreSQL (3 s).
  "$bin" bench --json --workload insert --addr "127.0.0.1:$h1" --duration 3s --clients 8 --commit remote_flush >/dev/null
  for c in 8 1; do
    printf 'round %d  tandem     remote_flush %d client(s): ' "$r" "$c"
    "$bin" bench --json --workload insert --addr "127.0.0.1:$h1" --duration "$dur" --clients "$c" --commit remote_flush | line
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  bash bench/postgres/pgrepl-bench.sh --duration "$secs" --no-remote-apply 2>"$work/pg.err" \
    | awk -v r="$r" '/^remote_flush/ { printf "round %d  postgresql remote_flush %d client(s): %8.0f tps  avg %.3f ms\n", r, $6, $7, $8 }'
done
