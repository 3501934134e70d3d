package node

import (
	"time"
)

// maintainInterval is how often slots are checked and saved, old log
// segments removed and SQLite's WAL checkpointed.
const maintainInterval = 100 * time.Millisecond

// maintain enforces the slot cap, saves slots and trims the log.
func (n *Node) maintain() {
	t := time.NewTicker(maintainInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.slots.enforce(n.log.Durable())
		if err := n.slots.save(); err != nil {
			n.logger.Warn("save replication slots", "err", err)
		}
		n.trimLog(n.appliedLSN())
		if _, _, err := n.db.Checkpoint(); err != nil {
			n.logger.Warn("WAL checkpoint", "err", err)
		}
	}
}
