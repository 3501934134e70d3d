package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/ha"
	"github.com/tandem-db/tandem/node"
)

// positionTimeout bounds how long `tandem cluster members` waits for one
// member to say where its log ends; a member that takes longer is shown
// unreachable.
const positionTimeout = time.Second

// membersEvents is how many of the latest events `cluster members` shows.
const membersEvents = 10

// clusterCommand is `tandem cluster`: an HA cluster's members and their
// failover settings, as the raft-replicated cluster state holds them.
func clusterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show and change the members of an HA cluster",
		Long: `Show and change the members of an HA cluster (nodes started with --raft-addr
and --bootstrap or --join). --addr may name any member: changes are passed to
the raft leader, which commits them to the cluster state.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(clusterMembersCommand(), clusterRemoveCommand(), clusterSetPriorityCommand(), clusterSetNoFailoverCommand())
	return cmd
}

// clusterMembersCommand is `tandem cluster members`.
func clusterMembersCommand() *cobra.Command {
	var (
		addr   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the members, who is primary, the lease and the recent failovers",
		Long: `List the members of the HA cluster as the member at --addr sees the cluster
state: each one's role, raft vote, failover priority and nofailover tag, its
addresses, and where its log ends and in which term, asked of each member at
once (a member that does not answer within a second is shown unreachable).
Then the raft leader, the primary's term and lease, the commit config, and
the latest failovers, switchovers, promotions, rewinds and member changes.`,
		Example: `  tandem cluster members --addr 127.0.0.1:4001
  tandem cluster members --addr 127.0.0.1:4002 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := nodeRequest(cmd.Context(), addr, http.MethodGet, "/cluster/members", "")
			if err != nil {
				return fmt.Errorf("cluster members: %w", clusterHint(err, addr))
			}
			var d membersDoc
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("cluster members: decode the answer of %s: %w", addr, err)
			}
			pos := askPositions(cmd.Context(), d.State.SortedMembers())
			out := cmd.OutOrStdout()
			if asJSON {
				return printMembersJSON(out, body, pos)
			}
			printMembers(out, addr, &d, pos, time.Now())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultAddr, "HTTP address of any member (host:port or URL)")
	f.BoolVar(&asJSON, "json", false, "print the cluster state, the raft configuration and each member's position as JSON")
	return cmd
}

// clusterRemoveCommand is `tandem cluster remove`.
func clusterRemoveCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "remove --addr HOST:PORT ID",
		Short: "Remove a member from the cluster state and the raft configuration",
		Long: `Remove a member: it leaves the cluster state (it is no longer a failover
candidate) and the raft configuration (it no longer votes). The primary
cannot be removed: switch over to another member first. The removed node's
process is not stopped: stop it, and empty its data directory before it
joins again.`,
		Example: `  tandem cluster remove --addr 127.0.0.1:4001 n3`,
		Args:    clusterArgs("remove", "ID", 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			msg, err := clusterCall(cmd, addr, "/cluster/remove", url.Values{"id": {id}}, "removed")
			if err != nil {
				return fmt.Errorf("cluster remove %s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from the cluster: it is no longer a failover candidate nor a raft member; its process still runs, stop it\n", msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultAddr, "HTTP address of any member (host:port or URL)")
	return cmd
}

// clusterSetPriorityCommand is `tandem cluster set-priority`.
func clusterSetPriorityCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "set-priority --addr HOST:PORT ID PRIORITY",
		Short: "Set a member's failover priority",
		Long: `Set a member's failover priority. Among candidates that are equally up to
date, the failover manager promotes the one with the largest priority; it
never promotes a candidate that is further behind because of it. The
default is 0; a negative priority ranks below it and goes after "--".`,
		Example: `  tandem cluster set-priority --addr 127.0.0.1:4001 n2 10
  tandem cluster set-priority --addr 127.0.0.1:4001 -- n3 -1`,
		Args: clusterArgs("set-priority", "ID PRIORITY", 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			p, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("cluster set-priority %s: priority %q is not an integer", id, args[1])
			}
			if _, err := clusterCall(cmd, addr, "/cluster/set-priority", url.Values{"id": {id}, "priority": {strconv.Itoa(p)}}, "priority"); err != nil {
				return fmt.Errorf("cluster set-priority %s %d: %w", id, p, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "priority of %s is now %d\n", id, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultAddr, "HTTP address of any member (host:port or URL)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (a negative priority goes after --: tandem cluster set-priority --addr HOST:PORT -- ID -1)", err)
	})
	return cmd
}

// clusterSetNoFailoverCommand is `tandem cluster set-nofailover`.
func clusterSetNoFailoverCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "set-nofailover --addr HOST:PORT ID true|false",
		Short: "Tag a member so that it is never promoted, or clear the tag",
		Long: `Tag a member nofailover (true), so that neither a failover nor a switchover
ever promotes it, or clear the tag (false). A tagged member still streams
and, if it votes, still votes in raft.`,
		Example: `  tandem cluster set-nofailover --addr 127.0.0.1:4001 n3 true`,
		Args:    clusterArgs("set-nofailover", "ID true|false", 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			v, err := strconv.ParseBool(args[1])
			if err != nil {
				return fmt.Errorf("cluster set-nofailover %s: value %q: want true or false", id, args[1])
			}
			if _, err := clusterCall(cmd, addr, "/cluster/set-nofailover", url.Values{"id": {id}, "value": {strconv.FormatBool(v)}}, "nofailover"); err != nil {
				return fmt.Errorf("cluster set-nofailover %s %t: %w", id, v, err)
			}
			if v {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is tagged nofailover: it will not be promoted\n", id)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is no longer tagged nofailover: it may be promoted\n", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultAddr, "HTTP address of any member (host:port or URL)")
	return cmd
}

// clusterArgs wants exactly n non-empty arguments, named by what.
func clusterArgs(name, what string, n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("cluster %s: want %s, got %d argument(s); the member ids are listed by tandem cluster members", name, what, len(args))
		}
		for _, a := range args {
			if a == "" {
				return fmt.Errorf("cluster %s: want %s, got an empty argument", name, what)
			}
		}
		return nil
	}
}

// clusterCall posts an operator change to a member and returns the value
// its answer carries under key.
func clusterCall(cmd *cobra.Command, addr, path string, q url.Values, key string) (string, error) {
	body, err := nodeRequest(cmd.Context(), addr, http.MethodPost, path, q.Encode())
	if err != nil {
		return "", clusterHint(err, addr)
	}
	var resp map[string]string
	if err := json.Unmarshal(body, &resp); err != nil || resp[key] == "" {
		return "", fmt.Errorf("unexpected answer from %s: %q", addr, body)
	}
	return resp[key], nil
}

// clusterHint adds what to do to a member's refusal, where its own text
// does not say it.
func clusterHint(err error, addr string) error {
	var he *client.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	switch {
	case he.StatusCode == http.StatusNotFound && strings.Contains(he.Message, "unknown member"):
		return fmt.Errorf("%w (tandem cluster members --addr %s lists the member ids)", err, addr)
	case he.StatusCode == http.StatusServiceUnavailable:
		return fmt.Errorf("%w (the cluster has no reachable raft leader right now, or it lost a majority of its voters; retry, and see tandem cluster members --addr %s)", err, addr)
	}
	return err
}

// membersDoc is GET /cluster/members.
type membersDoc struct {
	Leader    string      `json:"leader"`
	State     ha.State    `json:"state"`
	Raft      []ha.Server `json:"raft"`
	RaftError string      `json:"raft_error"`
}

// memberPosition is one member's answer to GET /cluster/position, or why
// there is none.
type memberPosition struct {
	Pos *node.Position
	Raw json.RawMessage
	Err error
}

// askPositions asks every member where its log ends, all at once, each
// within positionTimeout.
func askPositions(ctx context.Context, members []ha.Member) map[string]memberPosition {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[string]memberPosition, len(members))
	)
	for _, m := range members {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, positionTimeout)
			defer cancel()
			var r memberPosition
			body, err := nodeRequest(ctx, m.HTTPAddr, http.MethodGet, "/cluster/position", "")
			if err == nil {
				var p node.Position
				if err = json.Unmarshal(body, &p); err == nil {
					r.Pos, r.Raw = &p, body
				}
			}
			r.Err = err
			mu.Lock()
			out[m.ID] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// printMembersJSON prints the /cluster/members document with each
// member's position (or the error asking for it) added under "positions".
func printMembersJSON(w io.Writer, body []byte, pos map[string]memberPosition) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("cluster members: the answer is not a JSON object: %w", err)
	}
	ps := make(map[string]any, len(pos))
	for id, p := range pos {
		if p.Err != nil {
			ps[id] = map[string]string{"error": p.Err.Error()}
		} else {
			ps[id] = p.Raw
		}
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	doc["positions"] = b
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err = out.WriteTo(w)
	return err
}

// printMembers writes the members table and the cluster's summary; addr
// is the member that answered, and now dates the lease.
func printMembers(w io.Writer, addr string, d *membersDoc, pos map[string]memberPosition, now time.Time) {
	st := &d.State
	fmt.Fprintf(w, "cluster state as %s sees it: primary %s, term %d, raft leader %s\n",
		addr, orDash(st.Primary), st.Term, leaderName(d.Leader))
	fmt.Fprintf(w, "lease: %s\n", leaseText(st.Lease, st.Primary, st.Lease.Expires.Sub(now)))
	fmt.Fprintf(w, "commit: %s\n", commitText(st.Commit))

	raft := make(map[string]ha.Server, len(d.Raft))
	for _, s := range d.Raft {
		raft[s.ID] = s
	}
	cols := []string{"id", "role", "voter", "priority", "nofailover", "raft_addr", "http_addr", "repl_addr",
		"flushed_lsn", "term", "state"}
	members := st.SortedMembers()
	rows := make([][]any, len(members))
	for i, m := range members {
		role := "replica"
		if m.ID == st.Primary {
			role = "primary"
		}
		voter := yesNo(m.Voter) // what it asked for, when raft's view is unknown
		if d.RaftError == "" {
			s, ok := raft[m.ID]
			voter = yesNo(s.Voter)
			if !ok {
				voter = "not in raft"
			}
		}
		var flushed, term any = "-", "-"
		state := "ok"
		p := pos[m.ID]
		switch {
		case p.Pos != nil:
			flushed, term = p.Pos.FlushedLSN.String(), int64(p.Pos.Term)
			if p.Pos.Role != role {
				state = "acting as " + p.Pos.Role + " (following the cluster state)"
			}
		case p.Err != nil:
			state = positionError(p.Err)
		default:
			state = "not asked"
		}
		rows[i] = []any{m.ID, role, voter, int64(m.Priority), yesNo(m.NoFailover), m.RaftAddr, m.HTTPAddr, orDash(m.ReplAddr),
			flushed, term, state}
	}
	fmt.Fprintln(w, "members:")
	formatTable(w, cols, rows)
	for _, s := range d.Raft {
		if _, ok := st.Members[s.ID]; !ok {
			fmt.Fprintf(w, "raft server %s at %s is not a member of the cluster state (a join or remove that stopped half-way)\n", s.ID, s.Addr)
		}
	}
	if d.RaftError != "" {
		fmt.Fprintf(w, "raft configuration unknown: %s\n", d.RaftError)
	}

	events := st.Events
	if len(events) == 0 {
		fmt.Fprintln(w, "history: none")
		return
	}
	if k := len(events) - membersEvents; k > 0 {
		fmt.Fprintf(w, "history (the latest %d of %d):\n", membersEvents, len(events))
		events = events[k:]
	} else {
		fmt.Fprintln(w, "history:")
	}
	rows = make([][]any, len(events))
	for i, e := range events {
		var term, at any = "-", "-"
		if e.Term != 0 {
			term = int64(e.Term)
		}
		if e.Kind != ha.KindMember {
			at = e.LSN.String()
		}
		rows[i] = []any{eventTime(e.At), e.Kind, orDash(e.Old) + " -> " + orDash(e.New), term, at, e.Reason}
	}
	formatTable(w, []string{"at", "kind", "old -> new", "term", "lsn", "reason"}, rows)
}

// positionError says why a member did not report its position: it did
// not answer, or it answered that it cannot be promoted now.
func positionError(err error) string {
	var he *client.HTTPError
	switch {
	case errors.As(err, &he) && he.StatusCode == http.StatusServiceUnavailable:
		return "not a candidate: " + he.Message
	case errors.As(err, &he):
		return fmt.Sprintf("error: HTTP %d: %s", he.StatusCode, he.Message)
	}
	return "unreachable: " + err.Error()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// leaderName names the raft leader, or says there is none.
func leaderName(id string) string {
	if id == "" {
		return "none (an election is under way, or a majority of the voters is down)"
	}
	return id
}

// leaseText describes the primary's lease, left being the time until it
// expires (by the clock of whoever measured it).
func leaseText(l ha.Lease, primary string, left time.Duration) string {
	if l.Holder == "" {
		return fmt.Sprintf("held by no one (%s has not taken it in this term yet, or released it); the primary writes only while it holds the lease", orDash(primary))
	}
	s := fmt.Sprintf("held by %s for term %d, ", l.Holder, l.Term)
	if left > 0 {
		s += fmt.Sprintf("%s left", left.Round(time.Millisecond))
	} else {
		s += "EXPIRED at " + eventTime(l.Expires)
	}
	return s + ", flushed " + l.FlushedLSN.String() + " at the last renewal"
}

// commitText describes the cluster's commit config.
func commitText(c ha.CommitConfig) string {
	if c.SyncStandbys == "" {
		return "asynchronous (no sync standbys)"
	}
	return fmt.Sprintf("sync standbys %s, mode %s, timeout %s", c.SyncStandbys, orDash(c.Mode), c.Timeout)
}

// eventTime prints an event's time in UTC to the millisecond: failovers
// take less than a second.
func eventTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// eventLine describes one event of the cluster's history on one line.
func eventLine(e ha.Event) string {
	if e.Kind == ha.KindMember {
		return fmt.Sprintf("%s member: %s", eventTime(e.At), e.Reason)
	}
	s := fmt.Sprintf("%s %s %s -> %s, term %d at %s", eventTime(e.At), e.Kind, orDash(e.Old), orDash(e.New), e.Term, e.LSN)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}
