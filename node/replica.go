package node

// appliedHook runs after the replica applier advances: it lets waiting
// readers and the upstream (apply acks) know.
func (n *Node) appliedHook() {}
