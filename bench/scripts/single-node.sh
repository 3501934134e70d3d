#!/usr/bin/env bash
# Single-node figures for docs/BENCHMARKS.md: tandem bench against a Tandem
# node over HTTP and against plain SQLite (--target sqlite:), alternating
# rounds in one run so machine noise hits both sides alike.
#
#   bench/scripts/single-node.sh [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
dur=${2:-5s}
work=$(mktemp -d)
bin=$work/tandem
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$bin" ./cmd/tandem
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --node-id bench --data-dir "$work/node" --http-addr "127.0.0.1:$port" 2>"$work/node.log" &
echo $! >"$work/pid"
for _ in $(seq 200); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done

row() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %.3f %.3f" % (d["tps"], d["p50_ms"], d["p99_ms"]))'; }
printf '%-6s %-13s %-8s %8s %8s %8s\n' round workload target tps p50_ms p99_ms
for r in $(seq "$rounds"); do
  for w in insert point-select; do
    t=$("$bin" bench --json --workload $w --addr "127.0.0.1:$port" --clients 8 --duration "$dur" | row)
    printf '%-6s %-13s %-8s %8s %8s %8s\n' "$r" $w tandem $t
    s=$("$bin" bench --json --workload $w --target "sqlite:$work/base.db" --clients 8 --duration "$dur" | row)
    printf '%-6s %-13s %-8s %8s %8s %8s\n' "$r" $w sqlite $s
    python3 -c "a=float('${t%% *}'); b=float('${s%% *}'); print('%-6s %-13s %-8s %8.2f' % ('', '$w', 'ratio', a/b))"
  done
done
