#!/usr/bin/env bash
# Streaming replication figures for docs/BENCHMARKS.md, all on this machine
# and on loopback: a primary and two replicas as separate processes.
#
#   bench/scripts/replication.sh [DURATION] [CATCHUP_SECONDS]
#
# Prints: single node vs primary with two async replicas (throughput ratio,
# replica lag p99); remote_flush ANY 1 (n2,n3) with 8 clients and 1 client;
# catch-up rate of a replica stopped during load vs the primary's commit
# rate; bytes on the wire with and without zstd.
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-5s}
catchup=${2:-20}
work=$(mktemp -d)
bin=$work/tandem
secret=bench-secret-0123456789
go build -o "$bin" ./cmd/tandem
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitready() { for _ in $(seq 400); do curl -sf "127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; echo "node on $1 not ready" >&2; return 1; }
jq1() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# start NAME HTTPPORT [flags...]: starts a node, records its pid.
start() {
  local name=$1 port=$2; shift 2
  "$bin" serve --node-id "$name" --data-dir "$work/$name" --http-addr "127.0.0.1:$port" --cluster-secret "$secret" "$@" 2>>"$work/$name.log" &
  pids+=($!)
  eval "pid_$name=$!"
}
stopnode() { local p; p=$(eval echo "\$pid_$1"); kill "$p" 2>/dev/null || true; while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; }

cluster() { # cluster SYNC_STANDBYS [extra flags]
  local sync=$1; shift
  rm -rf "$work"/n1 "$work"/n2 "$work"/n3
  h1=$(freeport); h2=$(freeport); h3=$(freeport); r1=$(freeport)
  start n1 "$h1" --repl-addr "127.0.0.1:$r1" --sync-standbys "$sync" "$@"; waitready "$h1"
  start n2 "$h2" --primary "127.0.0.1:$r1" "$@"; start n3 "$h3" --primary "127.0.0.1:$r1" "$@"
  waitready "$h2"; waitready "$h3"
}
stopcluster() { for n in n1 n2 n3; do stopnode $n; done; }
bench() { "$bin" bench --json --workload insert --addr "127.0.0.1:$1" --duration "$dur" "${@:2}"; }
line() { jq1 '"%8.0f tps  p50 %.3f ms  p99 %.3f ms" % (d["tps"], d["p50_ms"], d["p99_ms"])'; }

echo "== single node (no replicas), 8 clients, commit=local"
rm -rf "$work/solo"; hs=$(freeport)
"$bin" serve --node-id solo --data-dir "$work/solo" --http-addr "127.0.0.1:$hs" 2>"$work/solo.log" & pids+=($!); pid_solo=$!
waitready "$hs"
solo=$(bench "$hs" --clients 8); echo "$solo" | line
stopnode solo

echo "== primary + 2 async replicas, 8 clients, commit=local"
cluster ""
# One light sampler process (not a curl and a python per sample).
python3 - "127.0.0.1:$h1" "$work/lags" <<'PY' &
import json, sys, time, urllib.request
end = time.time() + 120
with open(sys.argv[2], "w") as out:
    while time.time() < end:
        try:
            d = json.load(urllib.request.urlopen("http://%s/status" % sys.argv[1], timeout=2))
            out.write("%.3f " % time.time() + " ".join(str(r["apply_lag_s"]) for r in d["replication"]["replicas"]) + "\n")
            out.flush()
        except Exception:
            pass
        time.sleep(0.1)
PY
sampler=$!
t_async=$(date +%s.%N)
async=$(bench "$h1" --clients 8); echo "$async" | line
kill $sampler 2>/dev/null || true
python3 - "$work/lags" "$solo" "$async" "$t_async" <<'PY'
import json,sys
rows=[l.split() for l in open(sys.argv[1]) if l.strip()]
samples=[(float(r[0]), float(x)) for r in rows for x in r[1:]]
lags=sorted(x for _, x in samples)
solo=json.loads(sys.argv[2])["tps"]; a=json.loads(sys.argv[3])["tps"]
p99=lags[int(0.99*(len(lags)-1))] if lags else float("nan")
print(f"   async/single-node throughput ratio {a/solo:.2f}; replica apply lag p99 {p99*1000:.1f} ms over {len(lags)} samples")
if samples:
    at, worst = max(samples, key=lambda s: s[1])
    print(f"   largest apply lag {worst*1000:.1f} ms, {at-float(sys.argv[4]):.2f} s after the load started")
PY
stopcluster

echo "== remote_flush, sync standbys ANY 1 (n2,n3)"
cluster "ANY 1 (n2,n3)"
printf '8 clients: '; bench "$h1" --clients 8 --commit remote_flush | line
printf '1 client:  '; bench "$h1" --clients 1 --commit remote_flush | line
stopcluster

echo "== catch-up: n3 stopped during ${catchup}s of load (8 clients, async)"
cluster ""
stopnode n3
before=$(curl -sf "127.0.0.1:$h1/status" | jq1 'd["writer"]["transactions"]')
"$bin" bench --json --workload insert --addr "127.0.0.1:$h1" --clients 8 --duration "${catchup}s" >"$work/load.json"
after=$(curl -sf "127.0.0.1:$h1/status" | jq1 'd["writer"]["transactions"]')
end=$(curl -sf "127.0.0.1:$h1/status" | jq1 'd["log"]["durable_lsn"]')
t0=$(date +%s.%N)
start n3 "$h3" --primary "127.0.0.1:$r1"
for _ in $(seq 6000); do
  got=$(curl -sf "127.0.0.1:$h3/status" 2>/dev/null | jq1 'd["db"]["applied_lsn"]' 2>/dev/null || echo "")
  [ "$got" = "$end" ] && break; sleep 0.02
done
t1=$(date +%s.%N)
python3 - "$before" "$after" "$catchup" "$t0" "$t1" <<'PY'
import sys
b,a,d,t0,t1=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]),float(sys.argv[5])
n=a-b; commit=n/d; took=t1-t0; apply=n/took
print(f"   backlog {n} transactions; primary committed {commit:.0f}/s; replica caught up in {took:.2f}s (incl. start) = {apply:.0f}/s; ratio {apply/commit:.2f}")
PY
stopcluster

for z in off on; do
  echo "== bytes on the wire, insert workload, compression $z"
  flags=(); [ $z = on ] && flags=(--compression)
  cluster "" "${flags[@]}"
  bench "$h1" --clients 8 >/dev/null
  curl -sf "127.0.0.1:$h1/status" | jq1 '"\n".join("   %s: %d bytes of records, %d on the wire, ratio %.2f" % (r["name"], r["bytes_sent"], r["bytes_on_wire"], r["compression_ratio"]) for r in d["replication"]["replicas"])'
  stopcluster
done
