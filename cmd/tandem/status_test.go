package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// statusNow is the clock the golden outputs were made with.
var statusNow = time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)

const primaryStatusJSON = `{
  "node": {"id": "n1", "uuid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "role": "primary", "term": 3,
    "data_dir": "/var/lib/tandem/n1", "http_addr": "10.0.0.1:4001", "repl_addr": "10.0.0.1:5001", "format": "row",
    "started_at": "2026-03-01T11:00:00Z", "uptime": "1h0m10s", "ready": true},
  "log": {"first_lsn": "0/00000000", "end_lsn": "0/0012D687", "durable_lsn": "0/0012D687", "segments": 2, "bytes": 1234567},
  "db": {"path": "/var/lib/tandem/n1/db.sqlite", "applied_lsn": "0/0012D687", "last_gtid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120"},
  "writer": {"queue": 0, "batches": 2048, "transactions": 5120, "requests": 5120, "avg_batch": 2.5, "avg_fsync_ms": 0.4213},
  "replication": {"sync_standbys": "ANY 1 (n2,n3)", "sync_mode": "fallback", "sync_timeout": "10s", "sync_point": "after_sync",
    "degraded": true, "degraded_reason": "no standby acknowledged within 10s", "since": "2026-03-01T11:59:58Z", "waiting_commits": 0,
    "replicas": [
      {"name": "n2", "addr": "10.0.0.2:40312", "state": "streaming", "sync_state": "quorum",
       "sent_lsn": "0/0012D687", "write_lsn": "0/0012D687", "flush_lsn": "0/0012D600", "apply_lsn": "0/0012D500",
       "write_lag_bytes": 0, "flush_lag_bytes": 135, "apply_lag_bytes": 391, "write_lag_s": 0, "flush_lag_s": 0.0012, "apply_lag_s": 0.00347,
       "last_ack_at": "2026-03-01T12:00:09Z", "connected_since": "2026-03-01T11:00:01Z", "compression": true,
       "bytes_sent": 1200000, "bytes_on_wire": 300000, "compression_ratio": 4.0021, "slot_restart_lsn": "0/0012D500"},
      {"name": "n3", "state": "disconnected", "sync_state": "async",
       "sent_lsn": "0/00000000", "write_lsn": "0/00000000", "flush_lsn": "0/00000000", "apply_lsn": "0/00000000",
       "write_lag_bytes": 0, "flush_lag_bytes": 1025, "apply_lag_bytes": 0, "write_lag_s": 0, "flush_lag_s": 0, "apply_lag_s": 0,
       "compression": false, "bytes_sent": 0, "bytes_on_wire": 0, "compression_ratio": 0, "slot_restart_lsn": "0/0012D282",
       "last_error": "connection reset by peer"}
    ]},
  "recovery": {}
}`

const primaryStatusText = `node n1: primary, term 3, ready, up 1h0m10s
  http 10.0.0.1:4001, replication 10.0.0.1:5001
log: 0/00000000..0/0012D687, durable 0/0012D687, 2 segments, 1.2 MiB
db:  applied 0/0012D687, last gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120
writer: 5120 transactions in 2048 batches (2.5 per batch), fsync 0.42 ms, queue 0
sync standbys: ANY 1 (n2,n3), mode fallback, timeout 10s, point after_sync; DEGRADED since 2026-03-01T11:59:58Z: no standby acknowledged within 10s, 0 commits waiting
replicas:
 name | state        | sync_state | sent_lsn   | write_lsn  | flush_lsn  | apply_lsn  | flush_lag_bytes | apply_lag_s | ratio | last_error
------+--------------+------------+------------+------------+------------+------------+-----------------+-------------+-------+--------------------------
 n2   | streaming    | quorum     | 0/0012D687 | 0/0012D687 | 0/0012D600 | 0/0012D500 |             135 |       0.003 |     4 | 
 n3   | disconnected | async      | 0/00000000 | 0/00000000 | 0/00000000 | 0/00000000 |            1025 |           0 | off   | connection reset by peer
(2 rows)
`

const replicaStatusJSON = `{
  "node": {"id": "n2", "uuid": "9a8b7c6d-0000-4000-8000-000000000002", "role": "replica", "term": 3,
    "data_dir": "/var/lib/tandem/n2", "http_addr": "10.0.0.2:4001", "format": "row",
    "started_at": "2026-03-01T11:00:00Z", "uptime": "1h0m10s", "ready": true},
  "log": {"first_lsn": "0/00000122", "end_lsn": "0/0012D687", "durable_lsn": "0/0012D687", "segments": 1, "bytes": 1234200},
  "db": {"path": "/var/lib/tandem/n2/db.sqlite", "applied_lsn": "0/0012D500", "last_gtid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301:5119"},
  "upstream": {"upstream": "10.0.0.1:5001", "connected": true, "state": "streaming", "compression": true,
    "received_lsn": "0/0012D687", "written_lsn": "0/0012D687", "flushed_lsn": "0/0012D687",
    "last_message": "2026-03-01T12:00:08.5Z", "primary_lsn": "0/0012D687", "primary_http": "10.0.0.1:4001",
    "primary_time": "2026-03-01T12:00:08Z", "term": 3,
    "seed": {"lsn": "0/00000122", "bytes": 4096, "total": 4096, "rate": 0, "eta": 0, "done": true},
    "received": {"raw": 1200000, "wire": 300000}, "sent": {"raw": 900, "wire": 900}, "connects": 2,
    "last_error": "read: connection reset by peer", "last_error_code": 0, "last_error_at": "2026-03-01T11:00:00Z",
    "apply_lsn": "0/0012D500", "last_applied_commit_time": "2026-03-01T12:00:01Z", "apply_delay": "0s",
    "apply_stopped": true,
    "apply_error": "UNIQUE constraint failed: orders.id",
    "apply_error_gtid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120", "apply_error_lsn": "0/0012D500", "apply_error_table": "orders",
    "apply_lag_bytes": 391, "lag_s": 9.25, "forward_writes": true},
  "recovery": {}
}`

const replicaStatusText = `node n2: replica, term 3, ready, up 1h0m10s
  http 10.0.0.2:4001
log: 0/00000122..0/0012D687, durable 0/0012D687, 1 segment, 1.2 MiB
db:  applied 0/0012D500, last gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5119
upstream: 10.0.0.1:5001 (primary http 10.0.0.1:4001), streaming, connected
  received 0/0012D687, flushed 0/0012D687, applied 0/0012D500; primary end 0/0012D687
  last message 2026-03-01T12:00:08Z (1.5s ago); apply delay 0s; lag 9.250 s, 391 B behind
  last stream error (1h0m10s ago): read: connection reset by peer
  APPLY STOPPED at gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120, lsn 0/0012D500, table orders: UNIQUE constraint failed: orders.id
  fix the cause and restart the replica, or skip it: tandem replica skip --addr 10.0.0.2:4001 --gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120
`

const seedingStatusJSON = `{
  "node": {"id": "n3", "role": "replica", "term": 0, "http_addr": "10.0.0.3:4001", "uptime": "12s", "ready": false},
  "log": {"first_lsn": "0/00000000", "end_lsn": "0/00000000", "durable_lsn": "0/00000000", "segments": 0, "bytes": 0},
  "db": {"path": "", "applied_lsn": "0/00000000"},
  "upstream": {"upstream": "10.0.0.1:5001", "connected": true, "state": "seeding",
    "received_lsn": "0/00000000", "written_lsn": "0/00000000", "flushed_lsn": "0/00000000",
    "last_message": "2026-03-01T12:00:10Z", "primary_lsn": "0/0012D687", "primary_time": "0001-01-01T00:00:00Z", "term": 3,
    "seed": {"lsn": "0/0012D687", "bytes": 52428800, "total": 209715200, "rate": 10485760, "eta": 15000000000, "done": false},
    "received": {"raw": 0, "wire": 0}, "sent": {"raw": 0, "wire": 0}, "connects": 1, "last_error_at": "0001-01-01T00:00:00Z",
    "apply_lsn": "0/00000000", "apply_delay": "", "apply_stopped": false, "apply_lag_bytes": 0, "lag_s": 0, "forward_writes": true},
  "recovery": {}
}`

const seedingStatusText = `node n3: replica, term 0, not ready (seeding from its upstream), up 12s
  http 10.0.0.3:4001
upstream: 10.0.0.1:5001 (primary http -), seeding, connected
  seeding: 50.0 MiB of 200.0 MiB (25%) at 10.0 MiB/s, eta 15s
  received 0/00000000, flushed 0/00000000, applied 0/00000000; primary end 0/0012D687
  last message 2026-03-01T12:00:10Z (0s ago); apply delay -; lag 0.000 s, 0 B behind
`

const haPrimaryStatusJSON = `{
  "node": {"id": "n1", "role": "primary", "term": 3, "http_addr": "10.0.0.1:4001", "repl_addr": "10.0.0.1:5001", "uptime": "1h0m10s", "ready": true},
  "log": {"first_lsn": "0/00000000", "end_lsn": "0/0012D687", "durable_lsn": "0/0012D687", "segments": 1, "bytes": 2048},
  "db": {"applied_lsn": "0/0012D687"},
  "cluster": {"raft_addr": "10.0.0.1:7001", "raft_leader": "n1", "is_raft_leader": true, "primary": "n1", "term": 3,
    "lease": {"holder": "n1", "term": 3, "expires": "2026-03-01T12:00:09Z", "flushed_lsn": "0/0012D600"}, "lease_left_ms": 0,
    "may_write": false, "commit": {"sync_standbys": "ANY 1 (n2,n3)", "mode": "strict", "timeout": 10000000000},
    "members": [
      {"id": "n1", "http_addr": "10.0.0.1:4001", "repl_addr": "10.0.0.1:5001", "raft_addr": "10.0.0.1:7001", "voter": true},
      {"id": "n2", "http_addr": "10.0.0.2:4001", "repl_addr": "10.0.0.2:5001", "raft_addr": "10.0.0.2:7001", "priority": 5, "voter": true},
      {"id": "n3", "http_addr": "10.0.0.3:4001", "repl_addr": "10.0.0.3:5001", "raft_addr": "10.0.0.3:7001", "nofailover": true, "voter": false}],
    "history": [
      {"at": "2026-03-01T11:00:00Z", "kind": "member", "new": "n1", "reason": "added n1 (raft 10.0.0.1:7001, voter true)"},
      {"at": "2026-03-01T11:00:00.001Z", "kind": "promote", "new": "n1", "term": 1, "reason": "bootstrapped the cluster"},
      {"at": "2026-03-01T11:00:01Z", "kind": "member", "new": "n2", "reason": "added n2 (raft 10.0.0.2:7001, voter true)"},
      {"at": "2026-03-01T11:10:00Z", "kind": "failover", "old": "n1", "new": "n2", "term": 2, "lsn": "0/00001000", "reason": "the lease of n1 (term 1) expired"},
      {"at": "2026-03-01T11:10:02Z", "kind": "rewind", "old": "n1", "new": "n2", "term": 1, "lsn": "0/00000F00", "reason": "rewound 2 transactions"},
      {"at": "2026-03-01T11:20:00.250Z", "kind": "switchover", "old": "n2", "new": "n1", "term": 3, "lsn": "0/00002000", "reason": "switchover from n2 at LSN 0/00002000"}],
    "lease_renew_error": "context deadline exceeded"}
}`

const haPrimaryStatusText = `node n1: primary, term 3, ready, up 1h0m10s
  http 10.0.0.1:4001, replication 10.0.0.1:5001
log: 0/00000000..0/0012D687, durable 0/0012D687, 1 segment, 2.0 KiB
db:  applied 0/0012D687, last gtid -
cluster: primary n1, term 3, raft leader n1 (this node); raft 10.0.0.1:7001
  lease: held by n1 for term 3, EXPIRED at 2026-03-01T12:00:09.000Z, flushed 0/0012D600 at the last renewal; THIS NODE MAY NOT WRITE: it holds no lease
  commit: sync standbys ANY 1 (n2,n3), mode strict, timeout 10s
  members: n1 (primary, this node), n2 (priority 5), n3 (nofailover, non-voter)
  history (the latest 5 of 6):
    2026-03-01T11:00:00.001Z promote - -> n1, term 1 at 0/00000000: bootstrapped the cluster
    2026-03-01T11:00:01.000Z member: added n2 (raft 10.0.0.2:7001, voter true)
    2026-03-01T11:10:00.000Z failover n1 -> n2, term 2 at 0/00001000: the lease of n1 (term 1) expired
    2026-03-01T11:10:02.000Z rewind n1 -> n2, term 1 at 0/00000F00: rewound 2 transactions
    2026-03-01T11:20:00.250Z switchover n2 -> n1, term 3 at 0/00002000: switchover from n2 at LSN 0/00002000
  LEASE RENEWAL FAILING: context deadline exceeded
`

const haReplicaStatusJSON = `{
  "node": {"id": "n2", "role": "replica", "term": 2, "http_addr": "10.0.0.2:4001", "uptime": "5m0s", "ready": false},
  "cluster": {"raft_addr": "10.0.0.2:7001", "raft_leader": "", "primary": "n2", "term": 3,
    "lease": {}, "lease_left_ms": 0, "may_write": false, "commit": {},
    "members": [
      {"id": "n1", "http_addr": "10.0.0.1:4001", "raft_addr": "10.0.0.1:7001", "voter": true},
      {"id": "n2", "http_addr": "10.0.0.2:4001", "raft_addr": "10.0.0.2:7001", "voter": true}],
    "last_failover": "failover from n1 (term 2) cannot choose yet: ha: not enough replies to choose safely",
    "lease_renew_error": "ha: not the primary",
    "rewind_error": "automatic rewind to the fork point 0/00000F00 failed: statement-format record; re-seed this node"}
}`

const haReplicaStatusText = `node n2: replica, term 2, not ready (seeding from its upstream), up 5m0s
  http 10.0.0.2:4001
cluster: primary n2, term 3, raft leader none (an election is under way, or a majority of the voters is down); raft 10.0.0.2:7001
  lease: held by no one (n2 has not taken it in this term yet, or released it); the primary writes only while it holds the lease
  the cluster state made this node the primary: it is being promoted
  commit: asynchronous (no sync standbys)
  members: n1, n2 (primary, this node)
  last failover this node tried as raft leader: failover from n1 (term 2) cannot choose yet: ha: not enough replies to choose safely
  AUTOMATIC REWIND FAILED: automatic rewind to the fork point 0/00000F00 failed: statement-format record; re-seed this node
`

func TestPrintStatus(t *testing.T) {
	tests := []struct {
		name, addr, doc, want string
	}{
		{"primary", "10.0.0.1:4001", primaryStatusJSON, primaryStatusText},
		{"replica stopped", "10.0.0.2:4001", replicaStatusJSON, replicaStatusText},
		{"replica seeding", "10.0.0.3:4001", seedingStatusJSON, seedingStatusText},
		{"HA primary without a lease", "10.0.0.1:4001", haPrimaryStatusJSON, haPrimaryStatusText},
		{"HA replica", "10.0.0.2:4001", haReplicaStatusJSON, haReplicaStatusText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st statusDoc
			if err := json.Unmarshal([]byte(tt.doc), &st); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			printStatus(&b, &st, tt.addr, statusNow)
			if got, want := b.String(), tt.want; got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestStatusCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/status" {
			http.Error(w, `{"error":"no such endpoint"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(replicaStatusJSON))
	}))
	defer srv.Close()

	out, err := runCommand(t, statusCommand(), "--addr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The age of the last message depends on the clock; the rest does not.
	for _, want := range []string{"node n2: replica, term 3, ready", "APPLY STOPPED at gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120",
		"tandem replica skip --addr " + srv.URL + " --gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:5120"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = runCommand(t, statusCommand(), "--addr", srv.URL, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if got, want := doc["upstream"].(map[string]any)["apply_error_table"], any("orders"); got != want {
		t.Errorf("--json: apply_error_table = %v, want %v", got, want)
	}
}
