package bench

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func sampleReport() Report {
	w := &worker{ok: 3}
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond} {
		w.hist.Record(d)
	}
	cfg := DefaultConfig()
	return newReport(cfg, "sqlite:/tmp/x.db", 2*time.Second, w, nil)
}

func TestReport_WriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Errorf("output has %d lines, want 1: %q", got, buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"clients", "duration_s", "errors", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "target", "tps", "transactions", "workload"}
	if !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
	// The histogram keeps bucket midpoints: p50 is 2ms within 1%.
	if p50, _ := m["p50_ms"].(float64); m["tps"] != 1.5 || p50 < 1.98 || p50 > 2.02 || m["workload"] != "insert" {
		t.Errorf("tps, p50_ms, workload = %v, %v, %v; want 1.5, 2, insert", m["tps"], m["p50_ms"], m["workload"])
	}
	// The mean is exact: (1+2+3)/3 ms.
	if m["mean_ms"] != 2.0 {
		t.Errorf("mean_ms = %v, want 2", m["mean_ms"])
	}
}

func TestReport_WriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want a header and a row:\n%s", len(lines), buf.String())
	}
	head, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(head) != len(row) || head[6] != "tps" || row[6] != "1.5" {
		t.Errorf("table does not line up:\n%s", buf.String())
	}
}
