package chaos

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"
)

// Outcome is what a client learned about an operation.
type Outcome string

// Outcomes, as Jepsen names them.
const (
	// OK: the operation happened and the client saw its result.
	OK Outcome = "ok"
	// Fail: the operation certainly did not happen (a transaction whose
	// statement failed, so the server rolled it back).
	Fail Outcome = "fail"
	// Info: unknown. The request failed in transit or the server returned
	// an error after it may have committed (e.g. a synchronous-replication
	// timeout, after which the transaction stays committed on the primary).
	Info Outcome = "info"
)

// Operation kinds.
const (
	OpRead     = "read"     // register: read one key
	OpWrite    = "write"    // register: write one key
	OpCAS      = "cas"      // register: compare-and-set one key
	OpTransfer = "transfer" // bank: move an amount between two accounts
	OpBalances = "balances" // bank: read every balance in one query
	OpAdd      = "add"      // set: insert a unique element
)

// Op is one client operation with its invocation and completion times.
type Op struct {
	// ID is unique in the run; a write records it in the same transaction
	// (the set's element, or a row of chaos_ops), so the lost-write
	// checker can look for it afterwards.
	ID     int64  `json:"id"`
	Worker int    `json:"worker"`
	Kind   string `json:"kind"`
	Node   string `json:"node"` // node the request was sent to (the last, after retries)
	// Tries counts the extra nodes an HA client tried: a write only after
	// a refusal that proves it did not run, a read after any error.
	Tries  int    `json:"tries,omitempty"`
	Commit string `json:"commit,omitempty"`
	Level  string `json:"level,omitempty"`
	// Call and Return are offsets from the run's start.
	Call   time.Duration `json:"call_ns"`
	Return time.Duration `json:"return_ns"`
	Result Outcome       `json:"result"`
	Err    string        `json:"error,omitempty"`

	Key    int   `json:"key,omitempty"`
	Value  int64 `json:"value,omitempty"`  // written value, CAS new value, transfer amount
	Expect int64 `json:"expect,omitempty"` // CAS old value
	From   int   `json:"from,omitempty"`
	To     int   `json:"to,omitempty"`
	// Read is a register read's value; nil when the key had no value.
	Read *int64 `json:"read,omitempty"`
	// Swapped says whether an acknowledged CAS changed the value.
	Swapped bool `json:"swapped,omitempty"`
	// Balances is a bank read, by account.
	Balances []int64 `json:"balances,omitempty"`

	LSN     string `json:"lsn,omitempty"`
	GTID    string `json:"gtid,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// IsWrite reports whether the op asks for a transaction that writes.
func (o *Op) IsWrite() bool {
	switch o.Kind {
	case OpWrite, OpCAS, OpTransfer, OpAdd:
		return true
	}
	return false
}

// Latency is how long the op took.
func (o *Op) Latency() time.Duration { return o.Return - o.Call }

// History is the run's operations; safe for concurrent use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts a history whose times count from start.
func NewHistory(start time.Time) *History { return &History{start: start} }

// Since returns the offset of t from the run's start.
func (h *History) Since(t time.Time) time.Duration { return t.Sub(h.start) }

// Add records a completed op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops returns the ops sorted by invocation time.
func (h *History) Ops() []Op {
	h.mu.Lock()
	out := slices.Clone(h.ops)
	h.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	return out
}

// WriteJSONL writes one op per line.
func WriteJSONL(w io.Writer, ops []Op) error {
	enc := json.NewEncoder(w)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return err
		}
	}
	return nil
}
