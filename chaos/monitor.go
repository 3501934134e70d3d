package chaos

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// monitorInterval is how often the monitor reads every node's /status.
const monitorInterval = 100 * time.Millisecond

// Sample is one node's /status at one moment, as the harness saw it
// directly (not through a proxy).
type Sample struct {
	At   time.Duration `json:"at_ns"`
	Node string        `json:"node"`
	// Up is false when the node did not answer (down, paused, or too slow).
	Up      bool   `json:"up"`
	Role    string `json:"role,omitempty"`
	Term    uint64 `json:"term,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	Ready   bool   `json:"ready,omitempty"`
	Error   string `json:"error,omitempty"`
	Applied string `json:"applied_lsn,omitempty"`
	// Received is a replica's received LSN.
	Received string `json:"received_lsn,omitempty"`
	// Round numbers the monitor's passes: the samples of one round were
	// asked for at once. Took is how long the node took to answer.
	Round int           `json:"round"`
	Took  time.Duration `json:"took_ns,omitempty"`
	// HA members only: MayWrite says the node is the primary and holds
	// its lease; Primary and ClusterTerm are the cluster state as the node
	// sees it.
	HA          bool   `json:"ha,omitempty"`
	MayWrite    bool   `json:"may_write,omitempty"`
	Primary     string `json:"cluster_primary,omitempty"`
	ClusterTerm uint64 `json:"cluster_term,omitempty"`
}

// monitor samples every node's role, term and positions over the run.
type monitor struct {
	c    *Cluster
	hist *History

	mu      sync.Mutex
	samples []Sample
	clients map[string]*client.Client // by address
}

func newMonitor(c *Cluster, hist *History) *monitor {
	return &monitor{c: c, hist: hist, clients: make(map[string]*client.Client)}
}

// run samples until ctx ends.
func (m *monitor) run(ctx context.Context) {
	tick := time.NewTicker(monitorInterval)
	defer tick.Stop()
	defer m.closeClients()
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		for _, n := range m.c.Nodes() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := m.sample(ctx, n)
				s.Round = round
				m.mu.Lock()
				m.samples = append(m.samples, s)
				m.mu.Unlock()
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *monitor) sample(ctx context.Context, n *Node) Sample {
	s := Sample{At: m.hist.Since(time.Now()), Node: n.ID}
	addr := n.httpAddr()
	if addr == "" || n.Paused() {
		return s
	}
	c := m.client(addr)
	if c == nil {
		return s
	}
	sent := time.Now()
	st, err := statusOf(ctx, c)
	if err != nil {
		return s
	}
	s.Took = time.Since(sent)
	s.Up, s.Role, s.Term, s.UUID, s.Ready, s.Error = true, st.Role, st.Term, st.UUID, st.Ready, st.Error
	s.Applied, s.Received = st.Applied.String(), st.Received.String()
	s.HA, s.MayWrite, s.Primary, s.ClusterTerm = st.HA, st.MayWrite, st.ClusterPrimary, st.ClusterTerm
	return s
}

func (m *monitor) client(addr string) *client.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[addr]; ok {
		return c
	}
	c, err := client.New(addr, client.WithTimeout(500*time.Millisecond), client.WithMaxConns(2))
	if err != nil {
		return nil
	}
	m.clients[addr] = c
	return c
}

func (m *monitor) closeClients() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.clients {
		c.Close()
	}
}

// Samples returns every sample so far, in time order per node.
func (m *monitor) Samples() []Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Sample(nil), m.samples...)
}

// nodeStatus is the part of a node's /status the harness reads.
type nodeStatus struct {
	Role, UUID, Error string
	Term              uint64
	Ready             bool
	Applied, Durable  lsn.LSN
	Received          lsn.LSN
	Connected         bool
	// ApplyStopped: a replica's applier stopped on an error and waits for
	// the operator.
	ApplyStopped bool
	ApplyError   string
	// UpstreamError is a replica's last replication error.
	UpstreamError string
	// HA is set on a member of an HA cluster, with the cluster section
	// of its /status: the primary and term of the cluster state as it
	// sees it, and whether it may write (the primary, holding its lease).
	HA             bool
	ClusterPrimary string
	ClusterTerm    uint64
	MayWrite       bool
	// History is the cluster's recent role events (failovers, rewinds).
	History []clusterEvent
}

// clusterEvent is one entry of the cluster section's history.
type clusterEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Old    string    `json:"old,omitempty"`
	New    string    `json:"new,omitempty"`
	Term   uint64    `json:"term,omitempty"`
	LSN    string    `json:"lsn,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// statusOf reads and decodes the fields of /status the harness uses.
func statusOf(ctx context.Context, c *client.Client) (nodeStatus, error) {
	var st nodeStatus
	m, err := c.Status(ctx)
	if err != nil {
		return st, err
	}
	node, _ := m["node"].(map[string]any)
	st.Role, _ = node["role"].(string)
	st.UUID, _ = node["uuid"].(string)
	st.Error, _ = node["error"].(string)
	st.Ready, _ = node["ready"].(bool)
	if t, ok := node["term"].(float64); ok {
		st.Term = uint64(t)
	}
	db, _ := m["db"].(map[string]any)
	st.Applied = parseLSN(db["applied_lsn"])
	lg, _ := m["log"].(map[string]any)
	st.Durable = parseLSN(lg["durable_lsn"])
	if up, ok := m["upstream"].(map[string]any); ok {
		st.Received = parseLSN(up["received_lsn"])
		st.Connected, _ = up["connected"].(bool)
		st.ApplyStopped, _ = up["apply_stopped"].(bool)
		st.ApplyError, _ = up["apply_error"].(string)
		st.UpstreamError, _ = up["last_error"].(string)
	}
	if cl, ok := m["cluster"].(map[string]any); ok {
		st.HA = true
		st.ClusterPrimary, _ = cl["primary"].(string)
		st.MayWrite, _ = cl["may_write"].(bool)
		if t, ok := cl["term"].(float64); ok {
			st.ClusterTerm = uint64(t)
		}
		if h, ok := cl["history"]; ok {
			// Re-encoded: the client decodes /status into maps.
			if b, err := json.Marshal(h); err == nil {
				_ = json.Unmarshal(b, &st.History) // a shape we do not know leaves it empty
			}
		}
	}
	return st, nil
}

func parseLSN(v any) lsn.LSN {
	s, _ := v.(string)
	l, err := lsn.Parse(s)
	if err != nil {
		return 0
	}
	return l
}
