package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/ha"
	"github.com/tandem-db/tandem/node"
)

// statusCommand is `tandem status`: a node's /status document, summed up
// the way pg_stat_replication and SHOW REPLICA STATUS show theirs.
func statusCommand() *cobra.Command {
	var (
		addr   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's state and its replication, as GET /status reports them",
		Long: `Show a node's state: its role, term and log positions; on a primary (or a
replica with its own replicas) one row per standby with its sent, written,
flushed and applied LSN and its lag, and the synchronous replication
settings; on a replica its upstream, what it received, flushed and applied,
its lag and, when its applier stopped, the transaction it stopped on; on a
member of an HA cluster the cluster's primary, term and lease, the raft
leader, the members and the latest failovers.`,
		Example: `  tandem status --addr 127.0.0.1:4001
  tandem status --addr 127.0.0.1:4002 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := nodeRequest(cmd.Context(), addr, http.MethodGet, "/status", "")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				var b bytes.Buffer
				if err := json.Indent(&b, body, "", "  "); err != nil {
					return fmt.Errorf("GET /status: the answer is not JSON: %w", err)
				}
				b.WriteByte('\n')
				_, err := b.WriteTo(out)
				return err
			}
			var st statusDoc
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("GET /status: decode the answer: %w", err)
			}
			printStatus(out, &st, addr, time.Now())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultAddr, "HTTP address of the node (host:port or URL)")
	f.BoolVar(&asJSON, "json", false, "print the raw status document")
	return cmd
}

// nodeRequestTimeout bounds one call of the admin commands.
const nodeRequestTimeout = 10 * time.Second

// nodeRequest sends one request to a node's HTTP API and returns the body
// of a 2xx answer; any other answer is a *client.HTTPError with the
// server's error text.
func nodeRequest(ctx context.Context, addr, method, path, query string) ([]byte, error) {
	c, err := client.New(addr) // only for the address rules and the base URL
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, nodeRequestTimeout)
	defer cancel()
	u := c.URL() + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the method and URL are said already
		}
		return nil, fmt.Errorf("%s %s: %w (is a node listening on %s?)", method, path, err, addr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &client.HTTPError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: msg}
	}
	return body, nil
}

// statusDoc is the part of GET /status that the summary shows; the keys
// are those of node.Status.
type statusDoc struct {
	Node struct {
		ID       string `json:"id"`
		Role     string `json:"role"`
		Term     uint64 `json:"term"`
		HTTPAddr string `json:"http_addr"`
		ReplAddr string `json:"repl_addr"`
		Uptime   string `json:"uptime"`
		Ready    bool   `json:"ready"`
		Error    string `json:"error"`
	} `json:"node"`
	Log struct {
		First    string `json:"first_lsn"`
		End      string `json:"end_lsn"`
		Durable  string `json:"durable_lsn"`
		Segments int    `json:"segments"`
		Bytes    int64  `json:"bytes"`
	} `json:"log"`
	DB struct {
		AppliedLSN string `json:"applied_lsn"`
		LastGTID   string `json:"last_gtid"`
	} `json:"db"`
	Writer *struct {
		Queue          int     `json:"queue"`
		Batches        uint64  `json:"batches"`
		Transactions   uint64  `json:"transactions"`
		AvgBatch       float64 `json:"avg_batch"`
		AvgFsyncMillis float64 `json:"avg_fsync_ms"`
	} `json:"writer"`
	Replication *replicationDoc     `json:"replication"`
	Upstream    *upstreamDoc        `json:"upstream"`
	Cluster     *node.ClusterStatus `json:"cluster"`
}

// replicationDoc is an upstream's view of its standbys.
type replicationDoc struct {
	SyncStandbys string       `json:"sync_standbys"`
	SyncMode     string       `json:"sync_mode"`
	SyncTimeout  string       `json:"sync_timeout"`
	SyncPoint    string       `json:"sync_point"`
	Degraded     bool         `json:"degraded"`
	Reason       string       `json:"degraded_reason"`
	Since        time.Time    `json:"since"`
	Waiting      int          `json:"waiting_commits"`
	Replicas     []standbyDoc `json:"replicas"`
}

// standbyDoc is one row of the standby table.
type standbyDoc struct {
	Name          string  `json:"name"`
	State         string  `json:"state"`
	SyncState     string  `json:"sync_state"`
	SentLSN       string  `json:"sent_lsn"`
	WriteLSN      string  `json:"write_lsn"`
	FlushLSN      string  `json:"flush_lsn"`
	ApplyLSN      string  `json:"apply_lsn"`
	FlushLagBytes int64   `json:"flush_lag_bytes"`
	ApplyLag      float64 `json:"apply_lag_s"`
	Compression   bool    `json:"compression"`
	Ratio         float64 `json:"compression_ratio"`
	LastError     string  `json:"last_error"`
}

// upstreamDoc is a replica's view of its upstream and its applier.
type upstreamDoc struct {
	Upstream      string    `json:"upstream"`
	PrimaryHTTP   string    `json:"primary_http"`
	Connected     bool      `json:"connected"`
	State         string    `json:"state"`
	ReceivedLSN   string    `json:"received_lsn"`
	FlushedLSN    string    `json:"flushed_lsn"`
	PrimaryLSN    string    `json:"primary_lsn"`
	LastMessage   time.Time `json:"last_message"`
	LastError     string    `json:"last_error"`
	LastErrorAt   time.Time `json:"last_error_at"`
	Applied       string    `json:"apply_lsn"`
	Delay         string    `json:"apply_delay"`
	Stopped       bool      `json:"apply_stopped"`
	ApplyError    string    `json:"apply_error"`
	ErrorGTID     string    `json:"apply_error_gtid"`
	ErrorLSN      string    `json:"apply_error_lsn"`
	ErrorTable    string    `json:"apply_error_table"`
	ApplyLagBytes int64     `json:"apply_lag_bytes"`
	Lag           float64   `json:"lag_s"`
	Seed          struct {
		Bytes int64         `json:"bytes"`
		Total int64         `json:"total"`
		Rate  float64       `json:"rate"`
		ETA   time.Duration `json:"eta"`
		Done  bool          `json:"done"`
	} `json:"seed"`
}

// printStatus writes the summary of st; addr is the node's address as the
// user gave it, for the commands it suggests, and now dates the ages.
func printStatus(w io.Writer, st *statusDoc, addr string, now time.Time) {
	n := st.Node
	state := "ready"
	switch {
	case n.Error != "":
		state = "FAILED: " + n.Error
	case !n.Ready && n.Role == "replica":
		state = "not ready (seeding from its upstream)"
	case !n.Ready:
		state = "not ready"
	}
	fmt.Fprintf(w, "node %s: %s, term %d, %s, up %s\n", n.ID, n.Role, n.Term, state, n.Uptime)
	addrs := "  http " + orDash(n.HTTPAddr)
	if n.ReplAddr != "" {
		addrs += ", replication " + n.ReplAddr
	}
	fmt.Fprintln(w, addrs)
	if n.Ready {
		fmt.Fprintf(w, "log: %s..%s, durable %s, %s, %s\n", st.Log.First, st.Log.End, st.Log.Durable,
			plural(st.Log.Segments, "segment"), byteSize(st.Log.Bytes))
		fmt.Fprintf(w, "db:  applied %s, last gtid %s\n", st.DB.AppliedLSN, orDash(st.DB.LastGTID))
	}
	if wr := st.Writer; wr != nil {
		fmt.Fprintf(w, "writer: %d transactions in %d batches (%.1f per batch), fsync %.2f ms, queue %d\n",
			wr.Transactions, wr.Batches, wr.AvgBatch, wr.AvgFsyncMillis, wr.Queue)
	}
	if u := st.Upstream; u != nil {
		printUpstream(w, u, addr, now)
	}
	if r := st.Replication; r != nil {
		printReplication(w, r)
	}
	if c := st.Cluster; c != nil {
		printCluster(w, c, n.ID, n.Role, n.Term)
	}
}

// statusEvents is how many of the latest events status shows.
const statusEvents = 5

// printCluster prints an HA member's view of the cluster: who is primary
// in which term, the lease, the raft leader, the members and the latest
// events; self, role and term are the node's own.
func printCluster(w io.Writer, c *node.ClusterStatus, self, role string, term uint64) {
	leader := leaderName(c.RaftLeader)
	if c.IsLeader {
		leader += " (this node)"
	}
	fmt.Fprintf(w, "cluster: primary %s, term %d, raft leader %s; raft %s\n", orDash(c.Primary), c.Term, leader, orDash(c.RaftAddr))
	lease := leaseText(c.Lease, c.Primary, time.Duration(c.LeaseLeftMs)*time.Millisecond)
	if role == "primary" {
		if c.MayWrite {
			lease += "; this node may write"
		} else {
			lease += "; THIS NODE MAY NOT WRITE: it holds no lease"
		}
	}
	fmt.Fprintf(w, "  lease: %s\n", lease)
	switch {
	case c.Forced:
		fmt.Fprintf(w, "  FORCED PROMOTE: this node writes without a lease until the cluster state moves past its term %d\n", term)
	case role == "primary" && c.Primary != self:
		fmt.Fprintf(w, "  this node still acts as primary but the cluster's primary is %s: it is stepping down\n", orDash(c.Primary))
	case role == "replica" && c.Primary == self:
		fmt.Fprintln(w, "  the cluster state made this node the primary: it is being promoted")
	}
	fmt.Fprintf(w, "  commit: %s\n", commitText(c.Commit))
	ms := make([]string, len(c.Members))
	for i, m := range c.Members {
		var tags []string
		if m.ID == c.Primary {
			tags = append(tags, "primary")
		}
		if m.ID == self {
			tags = append(tags, "this node")
		}
		if m.Priority != 0 {
			tags = append(tags, fmt.Sprintf("priority %d", m.Priority))
		}
		if m.NoFailover {
			tags = append(tags, "nofailover")
		}
		if !m.Voter {
			tags = append(tags, "non-voter")
		}
		ms[i] = m.ID
		if len(tags) > 0 {
			ms[i] += " (" + strings.Join(tags, ", ") + ")"
		}
	}
	fmt.Fprintf(w, "  members: %s\n", orDash(strings.Join(ms, ", ")))
	if !slices.ContainsFunc(c.Members, func(m ha.Member) bool { return m.ID == self }) {
		fmt.Fprintf(w, "  THIS NODE IS NOT A MEMBER of the cluster state (it was removed): stop it, or empty its data dir and start it with --join\n")
	}
	if h := c.History; len(h) > 0 {
		if k := len(h) - statusEvents; k > 0 {
			fmt.Fprintf(w, "  history (the latest %d of %d):\n", statusEvents, len(h))
			h = h[k:]
		} else {
			fmt.Fprintln(w, "  history:")
		}
		for _, e := range h {
			fmt.Fprintf(w, "    %s\n", eventLine(e))
		}
	}
	if c.Failover != "" {
		fmt.Fprintf(w, "  last failover this node tried as raft leader: %s\n", c.Failover)
	}
	if c.RenewError != "" && role == "primary" { // a replica does not renew; its error is from before
		fmt.Fprintf(w, "  LEASE RENEWAL FAILING: %s\n", c.RenewError)
	}
	if c.RewindError != "" {
		fmt.Fprintf(w, "  AUTOMATIC REWIND FAILED: %s\n", c.RewindError)
	}
}

// printReplication prints the sync settings and the standby table.
func printReplication(w io.Writer, r *replicationDoc) {
	if r.SyncStandbys == "" {
		fmt.Fprintln(w, "sync standbys: none (asynchronous replication)")
	} else {
		health := "ok"
		if r.Degraded {
			health = fmt.Sprintf("DEGRADED since %s: %s", r.Since.UTC().Format(time.RFC3339), orDash(r.Reason))
		}
		fmt.Fprintf(w, "sync standbys: %s, mode %s, timeout %s, point %s; %s, %d commits waiting\n",
			r.SyncStandbys, r.SyncMode, r.SyncTimeout, r.SyncPoint, health, r.Waiting)
	}
	if len(r.Replicas) == 0 {
		fmt.Fprintln(w, "replicas: none")
		return
	}
	fmt.Fprintln(w, "replicas:")
	cols := []string{"name", "state", "sync_state", "sent_lsn", "write_lsn", "flush_lsn", "apply_lsn",
		"flush_lag_bytes", "apply_lag_s", "ratio", "last_error"}
	rows := make([][]any, len(r.Replicas))
	for i, s := range r.Replicas {
		var ratio any = "off"
		if s.Compression {
			ratio = round(s.Ratio, 2)
		}
		rows[i] = []any{s.Name, s.State, s.SyncState, s.SentLSN, s.WriteLSN, s.FlushLSN, s.ApplyLSN,
			s.FlushLagBytes, round(s.ApplyLag, 3), ratio, s.LastError}
	}
	formatTable(w, cols, rows)
}

// printUpstream prints a replica's stream and applier.
func printUpstream(w io.Writer, u *upstreamDoc, addr string, now time.Time) {
	conn := "connected"
	if !u.Connected {
		conn = "not connected"
	}
	fmt.Fprintf(w, "upstream: %s (primary http %s), %s, %s\n", u.Upstream, orDash(u.PrimaryHTTP), u.State, conn)
	if !u.Seed.Done && u.Seed.Total > 0 {
		pct := 100 * float64(u.Seed.Bytes) / float64(u.Seed.Total)
		fmt.Fprintf(w, "  seeding: %s of %s (%.0f%%) at %s/s, eta %s\n", byteSize(u.Seed.Bytes), byteSize(u.Seed.Total),
			pct, byteSize(int64(u.Seed.Rate)), u.Seed.ETA.Round(time.Second))
	}
	fmt.Fprintf(w, "  received %s, flushed %s, applied %s; primary end %s\n",
		orDash(u.ReceivedLSN), orDash(u.FlushedLSN), orDash(u.Applied), orDash(u.PrimaryLSN))
	last := "never"
	if !u.LastMessage.IsZero() {
		last = fmt.Sprintf("%s (%s ago)", u.LastMessage.UTC().Format(time.RFC3339), ago(now, u.LastMessage))
	}
	fmt.Fprintf(w, "  last message %s; apply delay %s; lag %.3f s, %s behind\n",
		last, orDash(u.Delay), u.Lag, byteSize(u.ApplyLagBytes))
	if u.LastError != "" {
		fmt.Fprintf(w, "  last stream error (%s ago): %s\n", ago(now, u.LastErrorAt), u.LastError)
	}
	if u.Stopped {
		fmt.Fprintf(w, "  APPLY STOPPED at gtid %s, lsn %s, table %s: %s\n",
			orDash(u.ErrorGTID), orDash(u.ErrorLSN), orDash(u.ErrorTable), u.ApplyError)
		fmt.Fprintf(w, "  fix the cause and restart the replica, or skip it: tandem replica skip --addr %s --gtid %s\n",
			addr, orDash(u.ErrorGTID))
	}
}

// byteSize prints n bytes with a binary unit: 512 B, 1.5 KiB, 3.2 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// ago prints how long before now t was, to the tenth of a second.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return now.Sub(t).Round(100 * time.Millisecond).String()
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
