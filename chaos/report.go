package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Result is a run's outcome: what ran, what was injected, what the
// checkers said. It is the JSON of `tandem chaos run --json`.
type Result struct {
	Pass     bool     `json:"pass"`
	Seed     uint64   `json:"seed"`
	Nodes    int      `json:"nodes"`
	HA       bool     `json:"ha,omitempty"`
	Workload string   `json:"workload"`
	Faults   []string `json:"faults"`
	Commit   string   `json:"commit"`
	Duration string   `json:"duration"`
	Elapsed  string   `json:"elapsed"`
	// Error is the harness's own failure, if any.
	Error    string    `json:"error,omitempty"`
	Verdicts []Verdict `json:"verdicts"`
	Ops      OpStats   `json:"ops"`
	Latency  Latency   `json:"latency"`
	// Injected, Skipped and Errors count the scheduled faults by kind.
	Injected map[string]int `json:"faults_injected"`
	Skipped  map[string]int `json:"faults_skipped"`
	Errors   map[string]int `json:"fault_errors"`
	// Unsupported names each requested kind this binary or machine
	// cannot inject, with the reason.
	Unsupported map[string]string `json:"unsupported,omitempty"`
	Schedule    *Schedule         `json:"schedule"`
	FaultLog    []FaultRecord     `json:"fault_log"`
	Contents    []NodeContent     `json:"contents"`
	Proxies     map[string]Stats  `json:"proxies"`
	// Lost lists acknowledged writes missing at the end (allowed only
	// below remote_flush).
	Lost []Op `json:"lost,omitempty"`
	// HA runs: the cluster's role events (failovers, rewinds), the role
	// changes the monitor saw, and the lost-transactions files rewinds
	// wrote.
	Failovers   []Failover   `json:"failovers,omitempty"`
	RoleChanges []RoleChange `json:"role_changes,omitempty"`
	LostFiles   []LostFile   `json:"lost_files,omitempty"`

	ops     []Op
	samples []Sample
	seconds []Second
	runTime time.Duration
}

// fill computes the counts and statistics from the evidence.
func (r *Result) fill(ev *Evidence, runTime time.Duration) {
	r.ops, r.samples, r.runTime = ev.Ops, ev.Samples, runTime
	r.Ops = opStats(ev.Ops)
	r.Latency = latency(ev.Ops, ev.Faults, runTime)
	r.seconds = perSecond(ev.Ops, runTime)
	r.FaultLog, r.Contents, r.Lost = ev.Faults, ev.Contents, ev.Lost
	if ev.HA {
		r.Failovers, r.RoleChanges, r.LostFiles = failovers(ev), roleChanges(ev.Samples), ev.LostFiles
	}
	r.Injected, r.Skipped, r.Errors = map[string]int{}, map[string]int{}, map[string]int{}
	r.Proxies = map[string]Stats{}
	for _, f := range ev.Faults {
		kind := f.Kind
		if f.Kind == FaultDisk {
			kind += "(" + f.Disk + ")"
		}
		switch f.Status {
		case StatusInjected:
			r.Injected[kind]++
		case StatusSkipped:
			r.Skipped[kind]++
		default:
			r.Errors[kind]++
		}
	}
}

// Summary is the readable report.
func (r *Result) Summary() string {
	var b strings.Builder
	mode := ""
	if r.HA {
		mode = " ha"
	}
	fmt.Fprintf(&b, "tandem chaos: workload=%s nodes=%d%s commit=%s faults=%s duration=%s seed=%d (%s in all)\n",
		r.Workload, r.Nodes, mode, r.Commit, strings.Join(r.Faults, ","), r.Duration, r.Seed, r.Elapsed)
	fmt.Fprintf(&b, "ops: %d (ok %d, fail %d, unknown %d)", r.Ops.Total, r.Ops.OK, r.Ops.Fail, r.Ops.Info)
	for _, k := range sortedKeys(r.Ops.ByKind) {
		fmt.Fprintf(&b, " %s=%d", k, r.Ops.ByKind[k])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "faults: injected %s; skipped %s; errors %s\n", countList(r.Injected), countList(r.Skipped), countList(r.Errors))
	for _, k := range sortedKeys(r.Unsupported) {
		fmt.Fprintf(&b, "  not injectable here: %s: %s\n", k, r.Unsupported[k])
	}
	for _, f := range r.FaultLog {
		if f.Status != StatusInjected {
			fmt.Fprintf(&b, "  %s: %s%s\n", f.Status, f.Event.String(), noteSuffix(f.Note))
		}
	}
	if r.HA {
		r.haSummary(&b)
	}
	lat := func(name string, s LatencyStats) {
		fmt.Fprintf(&b, "  %-12s %6d ok ops over %6.1fs: %7.1f ops/s, p50 %7.1f ms, p99 %7.1f ms, max %7.1f ms; %d not ok\n",
			name, s.Ops, s.Seconds, s.Throughput, s.P50, s.P99, s.Max, s.Unacknowledged)
	}
	b.WriteString("latency:\n")
	lat("fault-free", r.Latency.FaultFree)
	lat("under faults", r.Latency.UnderFaults)
	b.WriteString("verdicts:\n")
	for _, v := range r.Verdicts {
		fmt.Fprintf(&b, "  %-20s %-7s %s\n", v.Checker, strings.ToUpper(v.Status), countList(v.Counts))
		for _, n := range v.Notes {
			fmt.Fprintf(&b, "      %s\n", n)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "harness error: %s\n", r.Error)
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "result: %s (reproduce with --seed %d)\n", verdict, r.Seed)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func countList[V int | int64](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// haSummary prints the cluster's role events and what rewinds discarded.
func (r *Result) haSummary(b *strings.Builder) {
	var news, rewinds int
	for _, f := range r.Failovers {
		if f.Kind == "rewind" {
			rewinds++
		} else {
			news++
		}
	}
	fmt.Fprintf(b, "failovers: %d new primaries, %d rewinds, %d role changes seen\n", news, rewinds, len(r.RoleChanges))
	for _, f := range r.Failovers {
		gap := ""
		if f.WriteGap > 0 {
			gap = fmt.Sprintf(", no write acknowledged for %v", f.WriteGap.Round(time.Millisecond))
		}
		fmt.Fprintf(b, "  %7.2fs %-10s %s -> %s term %d%s\n", f.At.Seconds(), f.Kind, f.Old, f.New, f.Term, gap)
	}
	for _, f := range r.LostFiles {
		fmt.Fprintf(b, "  %s lost-transactions/%s: %d transactions discarded by a rewind\n", f.Node, f.Name, len(f.Txns))
	}
}

// writeOutputs writes the run's files into dir.
func writeOutputs(dir string, r *Result) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	lost, err := json.MarshalIndent(struct {
		Commit string `json:"commit"`
		Lost   []Op   `json:"lost"`
		// Rewound is what the nodes' rewinds discarded (HA runs).
		Rewound []LostFile `json:"rewound,omitempty"`
	}{r.Commit, r.Lost, r.LostFiles}, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"result.json":            append(js, '\n'),
		"summary.txt":            []byte(r.Summary()),
		"timeline.svg":           []byte(Timeline(r)),
		"lost-transactions.json": append(lost, '\n'),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("chaos: write %s: %w", name, err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return err
	}
	if err := WriteJSONL(f, r.ops); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
