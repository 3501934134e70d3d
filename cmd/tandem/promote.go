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

// A node serves POST /admin/promote and /admin/switchover only because it
// implements these.
var (
	_ httpapi.Promoter = (*node.Node)(nil)
	_ httpapi.Switcher = (*node.Node)(nil)
)

// switchoverCommand is `tandem switchover`: a planned handover.
func switchoverCommand() *cobra.Command {
	var addr, to string
	cmd := &cobra.Command{
		Use:   "switchover --addr PRIMARY --to REPLICA",
		Short: "Hand the primary role to a replica, losing nothing",
		Long: `Hand the primary role to a replica, losing nothing: the primary stops taking
writes (they get a retryable 503), waits until the replica has applied its
last transaction, promotes it to a new term, and follows it as a replica. Its
own replicas keep streaming from it, cascaded. The output says how long
writes were refused.

In an HA cluster (nodes started with --raft-addr) the handover goes through
the cluster state: --to may be the target's member id (as tandem cluster
members lists it) or its HTTP address, and the primary releases its lease
so the target is promoted at once in the next term.`,
		Example: `  tandem switchover --addr 127.0.0.1:4001 --to 127.0.0.1:4002
  tandem switchover --addr 127.0.0.1:4001 --to n2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return fmt.Errorf("switchover: --to is required: the HTTP address of the replica to promote")
			}
			msg, err := roleCall(cmd, addr, "/admin/switchover", "to="+url.QueryEscape(to), "switched")
			if err != nil {
				return fmt.Errorf("switchover on %s: %w", addr, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4001", "HTTP address of the current primary")
	cmd.Flags().StringVar(&to, "to", "", "HTTP address of the replica to promote; in an HA cluster, its member id or HTTP address")
	return cmd
}

// promoteCommand is `tandem promote`: manual promotion of a replica.
func promoteCommand() *cobra.Command {
	var addr string
	var force bool
	cmd := &cobra.Command{
		Use:   "promote --addr HOST:PORT [--force]",
		Short: "Turn a replica into the primary (disaster recovery)",
		Long: `Turn a replica into the primary, for disaster recovery when the primary is
gone and nothing else can promote (the last site standing).

Without --force it only explains what could be lost: transactions the old
primary committed that this replica never received. With --force the replica
stops streaming, applies everything it received, starts a new term and takes
writes. If the old primary may still accept writes, stop or fence it first;
nodes that have seen the new term refuse to follow the old primary.`,
		Example: `  tandem promote --addr 127.0.0.1:4002
  tandem promote --addr 127.0.0.1:4002 --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query := ""
			if force {
				query = "force=true"
			}
			msg, err := roleCall(cmd, addr, "/admin/promote", query, "promoted")
			if err != nil {
				return fmt.Errorf("promote %s: %w", addr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", addr, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4001", "HTTP address of the replica to promote")
	cmd.Flags().BoolVar(&force, "force", false, "promote even though transactions may be lost")
	return cmd
}

// roleCall posts a role-changing request to a node and returns the message
// its answer carries under key.
func roleCall(cmd *cobra.Command, addr, path, query, key string) (string, error) {
	body, err := nodeRequest(cmd.Context(), addr, http.MethodPost, path, query)
	if err != nil {
		return "", err
	}
	var resp map[string]string
	if err := json.Unmarshal(body, &resp); err != nil || resp[key] == "" {
		return "", fmt.Errorf("unexpected answer %q", body)
	}
	return resp[key], nil
}
