#!/usr/bin/env bash
# pgrepl-bench.sh: PostgreSQL streaming-replication baseline for Tandem.
#
# Builds a throw-away primary + two physical streaming standbys (s1, s2) on
# 127.0.0.1, then runs pgbench with a single-row INSERT workload shaped like
# Tandem's `insert` workload (one row per transaction, 12-char key, 100-byte
# value) under several commit/replication settings. See README.md beside it.
#
# Usage: bench/postgres/pgrepl-bench.sh [--duration S] [--port P] [--dir DIR]
#                                       [--out FILE] [--no-remote-apply]
#                                       [--warmup S] [--progress S] [--fsync-test] [--keep]
set -euo pipefail

DURATION=10
WARMUP=3
PORT=54321
BASE_DIR=""
OUT=""
REMOTE_APPLY=1
PROGRESS=0
FSYNC_TEST=0
KEEP=0
CLIENTS=8
THREADS=2
START_TIMEOUT=60   # seconds for any single wait (server start, streaming, catch-up)

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "pgrepl-bench: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration|-T) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --dir) BASE_DIR="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --no-remote-apply) REMOTE_APPLY=0; shift ;;
    --progress|-P) PROGRESS="$2"; shift 2 ;;
    --fsync-test) FSYNC_TEST=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 1 && "$DURATION" -le 3600 ]] || die "--duration must be 1..3600"
[[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1024 && "$PORT" -le 65533 ]] || die "--port must be 1024..65533"
[[ "$WARMUP" =~ ^[0-9]+$ && "$WARMUP" -le 600 ]] || die "--warmup must be 0..600"
[[ "$PROGRESS" =~ ^[0-9]+$ ]] || die "--progress must be an integer"
P_PRIMARY=$PORT; P_S1=$((PORT + 1)); P_S2=$((PORT + 2))

# ---------------------------------------------------------------- install
find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/pg_basebackup && -x $d/pgbench && -x $d/psql ]]; then
      echo "$d"; return 0
    fi
  done
  return 1
}
BINDIR=$(find_bindir || true)
if [[ -z "$BINDIR" ]]; then
  [[ $EUID -eq 0 ]] || die "PostgreSQL not found under /usr/lib/postgresql/*/bin and not root to install it"
  log "installing postgresql (+contrib) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y postgresql postgresql-contrib >/dev/null 2>&1; then
    log "install failed; running apt-get update and retrying"
    apt-get update >/dev/null
    # postgresql-contrib is a virtual/transitional package on some releases.
    apt-get install -y postgresql postgresql-contrib >/dev/null 2>&1 || apt-get install -y postgresql >/dev/null
  fi
  BINDIR=$(find_bindir) || die "PostgreSQL binaries still missing after install"
fi
PG_VERSION=$("$BINDIR/postgres" --version | awk '{print $3}')
log "using $BINDIR (PostgreSQL $PG_VERSION)"

# ---------------------------------------------------------------- user
# postgres refuses to run as root: run every server and client as an
# unprivileged user. Debian's package creates `postgres`; else make one.
if [[ $EUID -eq 0 ]]; then
  if id -u postgres >/dev/null 2>&1; then
    RUN_USER=postgres
  else
    RUN_USER=tandembench
    id -u "$RUN_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
  fi
  as_user() { runuser -u "$RUN_USER" -- "$@"; }
else
  RUN_USER=$(id -un)
  as_user() { "$@"; }
fi

# ---------------------------------------------------------------- work dir
if [[ -n "$OUT" && "$OUT" != /* ]]; then OUT="$PWD/$OUT"; fi
if [[ -n "$BASE_DIR" ]]; then
  mkdir -p "$BASE_DIR"
  WORK=$(mktemp -d "$(cd "$BASE_DIR" && pwd)/pgrepl-bench.XXXXXX")
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgrepl-bench.XXXXXX")
fi
chmod 755 "$WORK"
[[ $EUID -eq 0 ]] && chown "$RUN_USER" "$WORK"
cd "$WORK"   # the unprivileged user must be able to access the cwd

STARTED_DIRS=()
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ -n "${SAMPLER_PID:-}" ]]; then touch "$WORK/lag.stop"; wait "$SAMPLER_PID" 2>/dev/null; fi
  local d pid
  for d in "${STARTED_DIRS[@]}"; do
    [[ -f $d/postmaster.pid ]] || continue
    as_user "$BINDIR/pg_ctl" -D "$d" -m fast -t 30 stop >/dev/null 2>&1 && continue
    as_user "$BINDIR/pg_ctl" -D "$d" -m immediate -t 10 stop >/dev/null 2>&1 && continue
    pid=$(head -1 "$d/postmaster.pid" 2>/dev/null)
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -9 "$pid" 2>/dev/null
  done
  if [[ $rc -ne 0 ]]; then
    echo "pgrepl-bench: FAILED (exit $rc); server log tails:" >&2
    for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  if [[ $KEEP -eq 1 ]]; then
    echo "pgrepl-bench: kept $WORK" >&2
  else
    cd / && rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
DB=tandem_bench
# psql against a port; prints unaligned tuples only.
q() { local port=$1 db=$2; shift 2; as_user "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$RUN_USER" -d "$db" -c "$*"; }
qp() { q "$P_PRIMARY" postgres "$@"; }

# wait_for DESCRIPTION SQL EXPECTED: poll the primary until SQL returns EXPECTED.
wait_for() {
  local what=$1 sql=$2 want=$3 got="" deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    got=$(qp "$sql" 2>/dev/null || true)
    [[ "$got" == "$want" ]] && return 0
    sleep 0.2
  done
  die "timed out after ${START_TIMEOUT}s waiting for $what (last: '${got}', want '${want}')"
}

start_server() {  # DIR LOGFILE
  STARTED_DIRS+=("$1")
  as_user "$BINDIR/pg_ctl" -D "$1" -l "$2" -w -t "$START_TIMEOUT" start >/dev/null
}

# ---------------------------------------------------------------- optional fsync probe
if [[ $FSYNC_TEST -eq 1 ]]; then
  log "pg_test_fsync -s 1 in $WORK (this VM's fsync speed)"
  as_user "$BINDIR/pg_test_fsync" -s 1 -f "$WORK/fsync.test" >&2 || true
  rm -f "$WORK/fsync.test"
fi

# ---------------------------------------------------------------- primary
for p in "$P_PRIMARY" "$P_S1" "$P_S2"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p on 127.0.0.1 is already in use (use --port)"; fi
done

log "initdb primary in $WORK/primary"
as_user "$BINDIR/initdb" -D "$WORK/primary" -U "$RUN_USER" --auth=trust -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1
cat >>"$WORK/primary/postgresql.conf" <<EOF

# --- pgrepl-bench ---
listen_addresses = '127.0.0.1'
port = $P_PRIMARY
unix_socket_directories = ''
max_connections = 50
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
fsync = on
full_page_writes = on
synchronous_commit = on
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
EOF
# initdb --auth=trust already allows `replication` from 127.0.0.1/32 and ::1.
start_server "$WORK/primary" "$WORK/primary.log"
qp "SELECT pg_create_physical_replication_slot('s1'), pg_create_physical_replication_slot('s2')" >/dev/null

# ---------------------------------------------------------------- standbys
for name in s1 s2; do
  if [[ $name == s1 ]]; then sport=$P_S1; else sport=$P_S2; fi
  log "pg_basebackup -R -> $name (port $sport)"
  as_user "$BINDIR/pg_basebackup" -h 127.0.0.1 -p "$P_PRIMARY" -U "$RUN_USER" -D "$WORK/$name" \
    -R -X stream -S "$name" -c fast >"$WORK/$name.basebackup.log" 2>&1
  # -R wrote primary_conninfo/standby.signal; override with our own (last setting wins).
  cat >>"$WORK/$name/postgresql.auto.conf" <<EOF
port = $sport
primary_conninfo = 'host=127.0.0.1 port=$P_PRIMARY user=$RUN_USER application_name=$name'
primary_slot_name = '$name'
EOF
  [[ -f $WORK/$name/standby.signal ]] || die "$name: pg_basebackup -R did not write standby.signal"
  start_server "$WORK/$name" "$WORK/$name.log"
done

log "waiting for s1 and s2 to be streaming"
wait_for "s1,s2 streaming" \
  "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication WHERE state = 'streaming'" \
  "s1,s2"

# ---------------------------------------------------------------- schema + workload
qp "CREATE DATABASE $DB" >/dev/null
q "$P_PRIMARY" "$DB" "CREATE TABLE bench (id bigserial PRIMARY KEY, k text, v bytea)" >/dev/null
# Same row as Tandem's insert workload: 12-character key, 100-byte value.
# The value is a pgbench -D variable, so it travels as a bind parameter on
# every execution (like Tandem's bound 100-char string), not as a literal.
VALUE=$(printf 'v%.0s' $(seq 1 100))
[[ ${#VALUE} -eq 100 ]] || die "value length ${#VALUE} != 100"
cat >"$WORK/insert.sql" <<'EOF'
\set k random(100000000000, 999999999999)
INSERT INTO bench(k, v) VALUES (:k, :v);
EOF
chmod 644 "$WORK/insert.sql"

wait_caught_up() {  # both standbys replayed everything the primary has written
  wait_for "standbys caught up" \
    "SELECT count(*) FROM pg_stat_replication WHERE application_name IN ('s1','s2') AND replay_lsn >= pg_current_wal_lsn()" \
    "2"
}

set_mode() {  # SYNC_NAMES SYNC_COMMIT EXPECTED_SYNC_STATE
  qp "ALTER SYSTEM SET synchronous_standby_names = '$1'" >/dev/null
  qp "ALTER SYSTEM SET synchronous_commit = '$2'" >/dev/null
  qp "SELECT pg_reload_conf()" >/dev/null
  wait_for "synchronous_standby_names='$1'" "SHOW synchronous_standby_names" "$1"
  wait_for "synchronous_commit=$2" "SHOW synchronous_commit" "$2"
  wait_for "sync_state=$3 for s1,s2" \
    "SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication" \
    "s1=$3,s2=$3"
  log "mode: synchronous_standby_names='$1' synchronous_commit=$2 ($(qp "SELECT string_agg(application_name || ':' || sync_state, ' ' ORDER BY application_name) FROM pg_stat_replication"))"
}

# Background sampler of replay lag on the primary during a run (bounded).
SAMPLER_PID=""
start_lag_sampler() {
  : >"$WORK/lag.samples"; rm -f "$WORK/lag.stop"
  (
    end=$((SECONDS + DURATION + 10))
    while (( SECONDS < end )) && [[ ! -e $WORK/lag.stop ]]; do
      qp "SELECT coalesce(max(extract(epoch FROM replay_lag) * 1000), 0)::numeric(12,3), coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) FROM pg_stat_replication" \
        >>"$WORK/lag.samples" 2>/dev/null || true
      sleep 0.5
    done
  ) &
  SAMPLER_PID=$!
}
stop_lag_sampler() {
  [[ -n "$SAMPLER_PID" ]] || return 0
  touch "$WORK/lag.stop"             # the sampler exits within one poll (< 1 s)
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}

# pgbench as an argv (timeout can't run a shell function); -T bounds it and
# timeout is only a backstop.
PGBENCH=("$BINDIR/pgbench")
[[ $EUID -eq 0 ]] && PGBENCH=(runuser -u "$RUN_USER" -- "$BINDIR/pgbench")

RESULTS=()   # JSON lines
TABLE=()     # human-readable rows

json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

run_pgbench() {  # LABEL SYNC_COMMIT CLIENTS THREADS [async]
  local label=$1 sc=$2 c=$3 j=$4 async=${5:-} outf tps lat ntx nfail extra="" lag_end="" lag_max="" lagb_max=""
  outf="$WORK/pgbench.$RANDOM.out"
  qp "CHECKPOINT" >/dev/null
  wait_caught_up
  local -a popt=()
  [[ $PROGRESS -gt 0 ]] && popt=(-P "$PROGRESS")
  log "pgbench: $label, -c $c -j $j -T $DURATION"
  [[ -n $async ]] && start_lag_sampler
  if ! timeout --kill-after=10 $((DURATION + 60)) \
      "${PGBENCH[@]}" -h 127.0.0.1 -p "$P_PRIMARY" -U "$RUN_USER" -n -M prepared \
      -c "$c" -j "$j" -T "$DURATION" "${popt[@]}" -D "v=$VALUE" -f "$WORK/insert.sql" "$DB" \
      >"$outf" 2>"$outf.err"; then
    cat "$outf" "$outf.err" >&2
    die "pgbench failed for $label"
  fi
  [[ $PROGRESS -gt 0 ]] && cat "$outf.err" >&2
  if [[ -n $async ]]; then
    # replay lag the instant the async run ends, then the max seen during it.
    lag_end=$(qp "SELECT coalesce(max(extract(epoch FROM replay_lag) * 1000), 0)::numeric(12,3) FROM pg_stat_replication")
    stop_lag_sampler
    lag_max=$(awk -F'|' 'BEGIN{m=0} $1+0>m{m=$1+0} END{printf "%.3f", m}' "$WORK/lag.samples")
    lagb_max=$(awk -F'|' 'BEGIN{m=0} $2+0>m{m=$2+0} END{printf "%d", m}' "$WORK/lag.samples")
    extra=",\"replay_lag_end_ms\":$lag_end,\"replay_lag_max_ms\":$lag_max,\"replay_lag_max_bytes\":$lagb_max"
  fi
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$outf" | head -1)
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$outf" | head -1)
  ntx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$outf" | head -1)
  nfail=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$outf" | head -1)
  [[ -n "$tps" && -n "$lat" && -n "$ntx" ]] || { cat "$outf" >&2; die "could not parse pgbench output for $label"; }
  RESULTS+=("{\"system\":\"postgresql\",\"version\":$(json_str "$PG_VERSION"),\"config\":$(json_str "$label"),\"synchronous_commit\":$(json_str "$sc"),\"clients\":$c,\"threads\":$j,\"duration_s\":$DURATION,\"tps\":$tps,\"avg_latency_ms\":$lat,\"transactions\":$ntx,\"failed\":${nfail:-0}$extra}")
  TABLE+=("$(printf '%-30s %-13s %3d %11.1f %10.3f %9s %9s' "$label" "$sc" "$c" "$tps" "$lat" "${lag_end:--}" "${lag_max:--}")")
}

# ---------------------------------------------------------------- runs
QUORUM='ANY 1 (s1,s2)'

set_mode "$QUORUM" on quorum
if [[ $WARMUP -gt 0 ]]; then
  # Unreported warm-up so the first measured config doesn't pay for cold
  # caches, first relation extension and backend start-up alone.
  log "warm-up: -c $CLIENTS -T $WARMUP (not reported)"
  timeout --kill-after=10 $((WARMUP + 60)) "${PGBENCH[@]}" -h 127.0.0.1 -p "$P_PRIMARY" -U "$RUN_USER" -n -M prepared \
    -c "$CLIENTS" -j "$THREADS" -T "$WARMUP" -D "v=$VALUE" -f "$WORK/insert.sql" "$DB" >"$WORK/warmup.out" 2>&1 \
    || { cat "$WORK/warmup.out" >&2; die "warm-up pgbench failed"; }
fi
run_pgbench "remote_flush $QUORUM" on "$CLIENTS" "$THREADS"
run_pgbench "remote_flush $QUORUM" on 1 1

if [[ $REMOTE_APPLY -eq 1 ]]; then
  set_mode "$QUORUM" remote_apply quorum
  run_pgbench "remote_apply $QUORUM" remote_apply "$CLIENTS" "$THREADS"
fi

set_mode "" on async
run_pgbench "async (local flush only)" on "$CLIENTS" "$THREADS" async
run_pgbench "async (local flush only)" on 1 1 async

# ---------------------------------------------------------------- report
rows=$(q "$P_PRIMARY" "$DB" "SELECT count(*) FROM bench")
wait_caught_up
for sp in "$P_S1" "$P_S2"; do
  srows=$(q "$sp" "$DB" "SELECT count(*) FROM bench")
  [[ "$srows" == "$rows" ]] || die "standby on port $sp has $srows rows, primary $rows"
done

{
  echo
  echo "PostgreSQL $PG_VERSION streaming replication, primary + 2 standbys on 127.0.0.1, $(nproc) cores, -T $DURATION s, -M prepared"
  echo "workload: one INSERT INTO bench(k, v) per transaction (12-char k, 100-byte v); $rows rows total, replicated to s1 and s2"
  printf '%-30s %-13s %3s %11s %10s %9s %9s\n' config sync_commit c tps lat_ms lag_end lag_max
  printf '%s\n' "${TABLE[@]}"
  echo "(lag_* = pg_stat_replication max replay_lag in ms, async runs only: at the end of the run / max sampled every 0.5 s)"
}

if [[ -n "$OUT" ]]; then
  printf '%s\n' "${RESULTS[@]}" >"$OUT"
  log "wrote ${#RESULTS[@]} JSON lines to $OUT"
else
  echo
  echo "== JSON =="
  printf '%s\n' "${RESULTS[@]}"
fi
