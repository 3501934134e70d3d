package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// switchoverError refuses a write while a switchover moves the primary.
type switchoverError struct{ msg string }

func (e *switchoverError) Error() string   { return e.msg }
func (e *switchoverError) HTTPStatus() int { return http.StatusServiceUnavailable }

var errSwitchover = &switchoverError{"a switchover is moving the primary: this write was not run; retry in a moment (a replica forwards it to the new primary)"}

// drainErr is what queued writes get when the writer stops.
func (n *Node) drainErr() error {
	if n.fenced.Load() {
		return errSwitchover
	}
	return ErrClosed
}

// switchoverCatchUp bounds how long a switchover waits for the target to
// apply the old primary's last transaction.
const switchoverCatchUp = 30 * time.Second

// Switchover hands the primary role to the replica whose HTTP API is at
// target, losing nothing: it stops taking writes, waits until the target
// has applied everything, promotes it, and turns this node into a replica
// that follows it (its own replicas keep streaming from it, now cascaded).
// Writes are refused (503, retryable) between the first and the third
// step; the message reports for how long.
func (n *Node) Switchover(ctx context.Context, target string) (string, error) {
	if n.ha != nil {
		return n.haSwitchover(ctx, target)
	}
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if n.isReplica() {
		return "", &promoteError{"this node is a replica: run the switchover on the primary"}
	}
	if err := n.failure(); err != nil {
		return "", &promoteError{"this primary's write path has failed (" + err.Error() + "); restart it so it recovers from its log before any switchover"}
	}
	c, err := client.New(target, client.WithSourceAddr(n.cfg.SourceAddr))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if role, _, err := nodeRole(ctx, c); err != nil || role != "replica" {
		return "", &promoteError{fmt.Sprintf("switchover target %s is not a replica (role %q, %v)", target, role, err)}
	}

	start := time.Now()
	end := n.fence()
	abort := func(err error) (string, error) {
		n.unfence()
		return "", fmt.Errorf("switchover to %s aborted, this node is still the primary: %w", target, err)
	}

	cctx, cancel := context.WithTimeout(ctx, switchoverCatchUp)
	err = waitTargetApplied(cctx, c, end)
	cancel()
	if err != nil {
		return abort(err)
	}
	if _, err := c.Promote(ctx, true); err != nil {
		return abort(fmt.Errorf("promote the target: %w", err))
	}
	unavailable := time.Since(start)
	_, repl, err := nodeRole(ctx, c)
	if err != nil || repl == "" {
		return "", fmt.Errorf("switchover: %s is the primary now, but its replication address is unknown (%v); make this node follow it with tandem replica follow", target, err)
	}
	if err := n.demote(repl, end, "switchover", "handed the primary role over; following "+repl); err != nil {
		return "", fmt.Errorf("switchover: %s is the primary now, but this node could not follow it: %w", target, err)
	}
	n.logger.Warn("switchover done", "new_primary", target, "lsn", end.String(), "unavailable", unavailable.String())
	return fmt.Sprintf("switched over to %s at LSN %s; writes were refused for %v; this node now follows %s",
		target, end, unavailable.Round(time.Millisecond), repl), nil
}

// fence refuses new writes (retryable), stops the writer and waits for it,
// and returns the end of the durable log: nothing is written past it until
// unfence or a role change.
func (n *Node) fence() lsn.LSN {
	n.fenced.Store(true)
	n.stopWriter()
	<-*n.writerDone.Load()
	return n.log.Durable()
}

// unfence starts the writer again after fence.
func (n *Node) unfence() {
	n.fenced.Store(false)
	n.startWriter()
}

// demote turns this stopped primary into a replica of upstream, recording
// a role event of kind.
func (n *Node) demote(upstream string, end lsn.LSN, kind, reason string) error {
	n.upstream.Store(&upstream)
	// The applier is in place before the role flips: readers that see the
	// replica role (reads, status, maintain, downstream attaches) use it.
	n.applierP.Store(newApplier(n, end, n.cfg.ApplyDelay))
	n.replica.Store(true)
	ctx, cancel := context.WithCancel(n.ctx)
	n.stopApplier = cancel
	n.applierDone = make(chan struct{})
	a := n.app()
	done := n.applierDone
	n.goFunc(func() {
		defer close(done)
		a.run(ctx)
	})
	if err := n.startClient(); err != nil {
		return err
	}
	n.fenced.Store(false)
	n.history = append(n.history, roleEvent{At: time.Now().UTC(), Kind: kind, Term: n.term.Load(), LSN: end, Reason: reason})
	return nil
}

// nodeRole reads a node's role and replication address from its /status.
func nodeRole(ctx context.Context, c *client.Client) (role, repl string, err error) {
	st, err := c.Status(ctx)
	if err != nil {
		return "", "", err
	}
	nd, _ := st["node"].(map[string]any)
	role, _ = nd["role"].(string)
	repl, _ = nd["repl_addr"].(string)
	return role, repl, nil
}

// waitTargetApplied polls the target's status until it has applied end.
func waitTargetApplied(ctx context.Context, c *client.Client, end lsn.LSN) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := c.Status(ctx)
		if err == nil {
			db, _ := st["db"].(map[string]any)
			s, _ := db["applied_lsn"].(string)
			if applied, perr := lsn.Parse(s); perr == nil && applied >= end {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the target did not apply LSN %s within %v", end, switchoverCatchUp)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
