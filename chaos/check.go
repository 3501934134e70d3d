package chaos

import (
	"fmt"
	"time"
)

// Verdict statuses.
const (
	Pass    = "pass"
	Failed  = "fail"
	Unknown = "unknown" // the checker could not decide (e.g. a timeout)
	NA      = "n/a"     // the checker does not apply to this workload or these faults
)

// maxNotes bounds the details a verdict carries.
const maxNotes = 20

// Verdict is one checker's result.
type Verdict struct {
	Checker string           `json:"checker"`
	Status  string           `json:"status"`
	Counts  map[string]int64 `json:"counts"`
	// Notes explain a failure (the first maxNotes cases) or a pass that
	// needs words, such as losses listed at a weak commit level.
	Notes []string `json:"notes,omitempty"`
}

// Passed reports whether the verdict lets the run pass: a pass, or a
// checker that does not apply.
func (v *Verdict) Passed() bool { return v.Status == Pass || v.Status == NA }

func newVerdict(name string) Verdict {
	return Verdict{Checker: name, Status: Pass, Counts: map[string]int64{}}
}

// note adds a detail, up to maxNotes, counting the rest.
func (v *Verdict) note(format string, args ...any) {
	if len(v.Notes) < maxNotes {
		v.Notes = append(v.Notes, fmt.Sprintf(format, args...))
		return
	}
	v.Counts["notes_left_out"]++
}

// fail marks the verdict failed with a detail.
func (v *Verdict) fail(format string, args ...any) {
	v.Status = Failed
	v.note(format, args...)
}

// NodeContent is one node's state after heal and quiesce.
type NodeContent struct {
	Node    string `json:"node"`
	Applied string `json:"applied_lsn"`
	// Checksum covers every workload table, read at level none.
	Checksum string `json:"checksum"`
	Rows     int64  `json:"rows"`
	Err      string `json:"error,omitempty"`
}

// Evidence is everything the checkers look at.
type Evidence struct {
	Workload string
	Commit   string
	Ops      []Op
	// Final is the primary's state after the run; nil if it could not be
	// read.
	Final *Final
	// FinalErr says why Final is nil.
	FinalErr string
	// BankTotal and BankAccounts are the bank workload's constant total
	// and number of accounts.
	BankTotal    int64
	BankAccounts int
	Samples      []Sample
	Faults       []FaultRecord
	Contents     []NodeContent
	// OutDir, when set, receives a checker's evidence files (porcupine's
	// visualization of a non-linearizable history).
	OutDir string
	// Lost receives the acknowledged writes the database lacks.
	Lost []Op
	// Start is when the run's clock started (op and sample offsets count
	// from it).
	Start time.Time
	// HA says the nodes were members of an HA cluster. History is then
	// the cluster's role events as the final primary had them, and
	// LostFiles the lost-transactions files the nodes' rewinds wrote.
	HA        bool
	History   []clusterEvent
	LostFiles []LostFile
}

// Check runs every checker.
func Check(ev *Evidence) []Verdict {
	lost, lostOps := CheckLostWrites(ev)
	ev.Lost = lostOps
	return []Verdict{
		lost,
		CheckConvergence(ev),
		CheckLinearizable(ev),
		CheckBank(ev),
		CheckPrimaries(ev),
		CheckCorruption(ev),
	}
}
