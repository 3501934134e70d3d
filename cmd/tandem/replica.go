package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/httpapi"
	"github.com/tandem-db/tandem/node"
)

// A node serves POST /replica/skip and /replica/follow only because it
// implements these.
var (
	_ httpapi.ReplicaAdmin = (*node.Node)(nil)
	_ httpapi.Follower     = (*node.Node)(nil)
	_ httpapi.Rewinder     = (*node.Node)(nil)
)

// replicaRewindCommand is `tandem replica rewind`: failback by rewind.
func replicaRewindCommand() *cobra.Command {
	var addr, to string
	cmd := &cobra.Command{
		Use:   "rewind --addr HOST:PORT --to LSN",
		Short: "Rewind a diverged replica to where its log forked, and stream again",
		Long: `Rewind a replica whose log forked from its upstream's history (a returning
ex-primary that kept writing after another node was promoted). The upstream
names the LSN when it refuses the replica as diverged (tandem status shows
it). Transactions after that LSN are undone with their inverted changesets,
the log is cut there, and every discarded transaction is written to
DATA_DIR/lost-transactions/<term>-<lsn>.jsonl (GTID, table, rows before and
after). Statement-format records cannot be undone: then the replica must
re-seed.`,
		Example: `  tandem replica rewind --addr 127.0.0.1:4001 --to 0/00001A2F`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return fmt.Errorf("replica rewind: --to is required: the LSN the upstream named when it refused this replica")
			}
			msg, err := roleCall(cmd, addr, "/replica/rewind", "to="+url.QueryEscape(to), "rewound")
			if err != nil {
				return fmt.Errorf("replica rewind on %s: %w", addr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", addr, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4001", "HTTP address of the diverged replica")
	cmd.Flags().StringVar(&to, "to", "", "LSN to rewind to")
	return cmd
}

// replicaFollowCommand is `tandem replica follow`: re-point a replica.
func replicaFollowCommand() *cobra.Command {
	var addr, upstream string
	cmd := &cobra.Command{
		Use:   "follow --addr HOST:PORT --upstream REPL_HOST:PORT",
		Short: "Make a replica stream from another upstream, without a restart",
		Long: `Make a replica stream from another upstream: a newly promoted primary
(after tandem promote), or another replica to cascade from. The replica
resumes from its own log's end; the new upstream refuses it, visibly in
tandem status, if it cannot serve from there.`,
		Example: `  tandem replica follow --addr 127.0.0.1:4003 --upstream 127.0.0.1:5002`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if upstream == "" {
				return fmt.Errorf("replica follow: --upstream is required: the new upstream's replication address")
			}
			msg, err := roleCall(cmd, addr, "/replica/follow", "upstream="+url.QueryEscape(upstream), "following")
			if err != nil {
				return fmt.Errorf("replica follow on %s: %w", addr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", addr, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4001", "HTTP address of the replica")
	cmd.Flags().StringVar(&upstream, "upstream", "", "replication address of the new upstream")
	return cmd
}

// replicaCommand is `tandem replica`: operator actions on a replica.
func replicaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replica",
		Short: "Operator actions on a replica",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(replicaSkipCommand(), replicaFollowCommand(), replicaRewindCommand())
	return cmd
}

// replicaSkipCommand is `tandem replica skip`, MySQL's
// sql_replica_skip_counter for one named transaction.
func replicaSkipCommand() *cobra.Command {
	var addr, g string
	cmd := &cobra.Command{
		Use:   "skip --gtid GTID",
		Short: "Skip the transaction on which a replica's applier stopped",
		Long: `Skip the transaction on which a replica's applier stopped, so that it goes
on with the next one. The replica then no longer holds that transaction's
changes: prefer fixing the cause (the conflicting row, say) and restarting.

--gtid must name exactly the transaction the applier stopped on, as
"tandem status" shows it (apply_error_gtid); any other is refused.`,
		Example: `  tandem replica skip --addr 127.0.0.1:4002 --gtid 3f2504e0-4f89-41d3-9a0c-0305e82c3301:42`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g == "" {
				return fmt.Errorf("replica skip: --gtid is required: the apply_error_gtid that tandem status --addr %s shows", addr)
			}
			body, err := nodeRequest(cmd.Context(), addr, http.MethodPost, "/replica/skip", "gtid="+url.QueryEscape(g))
			if err != nil {
				return fmt.Errorf("replica skip on %s: %w", addr, err)
			}
			var resp struct {
				Skipped string `json:"skipped"`
			}
			if err := json.Unmarshal(body, &resp); err != nil || resp.Skipped == "" {
				return fmt.Errorf("replica skip on %s: unexpected answer %q", addr, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "skipped %s on %s; the applier goes on with the next transaction\n", resp.Skipped, addr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultAddr, "HTTP address of the replica (host:port or URL)")
	f.StringVar(&g, "gtid", "", "GTID of the transaction to skip (origin-uuid:seq)")
	return cmd
}
