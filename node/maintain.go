package node

import (
	"time"
)

// maintainInterval is how often slots are checked and SQLite's WAL
// checkpointed.
const maintainInterval = 100 * time.Millisecond

// slotSaveInterval is how often moved slots are saved, and old log
// segments removed right after. A slot's hold on the log moves only when
// its position has been saved, so the log never drops what a saved slot
// still needs; between saves it keeps up to a second more. (Saving is a
// write, an fsync, a rename and a directory fsync: every 100 ms it cost
// the commit path measurable fsync latency.)
const slotSaveInterval = time.Second

// maintain enforces the slot cap, saves slots and trims the log.
func (n *Node) maintain() {
	t := time.NewTicker(maintainInterval)
	defer t.Stop()
	var saved time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		lost := n.slots.enforce(n.log.Durable())
		if len(lost) > 0 || time.Since(saved) >= slotSaveInterval {
			saved = time.Now()
			if err := n.slots.save(); err != nil {
				n.logger.Warn("save replication slots", "err", err)
			} else {
				n.trimLog(n.appliedLSN())
			}
		}
		if _, _, err := n.db.Checkpoint(); err != nil {
			n.logger.Warn("WAL checkpoint", "err", err)
		}
	}
}
