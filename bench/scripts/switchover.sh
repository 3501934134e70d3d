#!/usr/bin/env bash
# Planned switchover figures for docs/BENCHMARKS.md: a primary and a
# replica as processes on loopback, a write load through the replica's
# forwarding, and ROUNDS switchovers back and forth; prints how long writes
# were refused each time, with the median and the maximum.
#
#   bench/scripts/switchover.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-10}
work=$(mktemp -d)
bin=$work/tandem
secret=bench-secret-0123456789
go build -o "$bin" ./cmd/tandem
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitready() { for _ in $(seq 400); do curl -sf "127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; return 1; }
h1=$(freeport); h2=$(freeport); r1=$(freeport); r2=$(freeport)
"$bin" serve --node-id a --data-dir "$work/a" --http-addr "127.0.0.1:$h1" --repl-addr "127.0.0.1:$r1" --cluster-secret "$secret" 2>"$work/a.log" & pids+=($!)
waitready "$h1"
"$bin" serve --node-id b --data-dir "$work/b" --http-addr "127.0.0.1:$h2" --repl-addr "127.0.0.1:$r2" --primary "127.0.0.1:$r1" --cluster-secret "$secret" 2>"$work/b.log" & pids+=($!)
waitready "$h2"
curl -sf -XPOST "127.0.0.1:$h1/db/execute" -d '["CREATE TABLE bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100))"]' >/dev/null
primary=$h1; other=$h2
: >"$work/times"
for r in $(seq "$rounds"); do
  # Load through the replica (forwarded to the primary) during the switchover.
  "$bin" bench --workload insert --addr "127.0.0.1:$other" --clients 4 --duration 2s --json >"$work/load.$r" 2>/dev/null &
  load=$!
  sleep 0.5
  out=$("$bin" switchover --addr "127.0.0.1:$primary" --to "127.0.0.1:$other")
  echo "round $r: $out"
  echo "$out" | sed -n 's/.*writes were refused for \([0-9.]*\)\(ms\|s\|µs\).*/\1 \2/p' >>"$work/times"
  wait $load || true
  tmp=$primary; primary=$other; other=$tmp
done
python3 - "$work/times" <<'PY'
import sys, statistics
v=[]
for line in open(sys.argv[1]):
    n,u=line.split(); n=float(n)
    v.append(n*1000 if u=="s" else n/1000 if u=="µs" else n)
print(f"switchovers: {len(v)}; writes refused: median {statistics.median(v):.1f} ms, max {max(v):.1f} ms")
PY
