package node

import (
	"time"
)

// maintainInterval is how often slots are checked and saved and old log
// segments removed.
const maintainInterval = 250 * time.Millisecond

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
	}
}
