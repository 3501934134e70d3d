package chaos

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSchedule_Reproducible(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults, cfg.Duration, cfg.Seed = FaultKinds, 60*time.Second, 7
	nodes, links := []string{"n1", "n2", "n3"}, []string{"n1->n2", "client->n1", "n1->n3"}
	a, b := NewSchedule(&cfg, nodes, links), NewSchedule(&cfg, nodes, links)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the same seed gave two schedules:\n%s\n%s", a, b)
	}
	cfg.Seed = 8
	if c := NewSchedule(&cfg, nodes, links); reflect.DeepEqual(a.Events, c.Events) {
		t.Errorf("seeds 7 and 8 gave the same schedule")
	}
	kinds := map[string]bool{}
	var last time.Duration
	for _, e := range a.Events {
		kinds[e.Kind] = true
		if e.At < last || e.At+e.Dur > cfg.Duration-cfg.Duration/10 || e.Dur <= 0 {
			t.Errorf("event %s overlaps the previous one or the fault-free tail", e)
		}
		last = e.At + e.Dur
	}
	if got, want := len(kinds), len(FaultKinds); got != want {
		t.Errorf("a 60 s schedule has %d of the %d kinds:\n%s", got, want, a)
	}
}

func TestSchedule_PinnedEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events = []Event{{At: time.Second, Dur: time.Second, Kind: FaultKill, Target: "n2"}}
	if got := NewSchedule(&cfg, []string{"n1", "n2"}, nil); !reflect.DeepEqual(got.Events, cfg.Events) {
		t.Errorf("pinned events = %v, want %v", got.Events, cfg.Events)
	}
	cfg.Events, cfg.Faults = nil, nil
	if got := NewSchedule(&cfg, []string{"n1"}, nil); len(got.Events) != 0 {
		t.Errorf("no fault kinds gave %d events", len(got.Events))
	}
}

// TestSchedule_HA draws kills, pauses and partitions that often target the
// primary of the moment, and partitions between nodes.
func TestSchedule_HA(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HA, cfg.Faults, cfg.Duration, cfg.Seed = true, []string{FaultKill, FaultPause, FaultPartition}, 10*time.Minute, 3
	nodes := []string{"n1", "n2", "n3"}
	links := []string{"client->n1", "n1/raft", "n1/repl", "n1/http"}
	s := NewSchedule(&cfg, nodes, links)
	if again := NewSchedule(&cfg, nodes, links); !reflect.DeepEqual(s, again) {
		t.Fatalf("the same seed gave two HA schedules")
	}
	count := map[string]int{}
	for _, e := range s.Events {
		switch {
		case e.Target == TargetPrimary:
			count[e.Kind+"/primary"]++
		case e.Kind == FaultPartition && strings.Contains(e.Target, "|"):
			a, b, _ := strings.Cut(e.Target, "|")
			if a == b || !slices.Contains(nodes, a) || !slices.Contains(nodes, b) {
				t.Errorf("pair partition %s", e)
			}
			count["pair"]++
		case slices.Contains(nodes, e.Target):
			count[e.Kind+"/node"]++
		default:
			t.Errorf("event %s targets neither a node, a pair nor the primary", e)
		}
		if e.Kind == FaultPartition && e.Dir == 0 {
			t.Errorf("partition %s has no direction", e)
		}
	}
	for _, k := range []string{"kill/primary", "pause/primary", "partition/primary", "kill/node", "partition/node", "pair"} {
		if count[k] == 0 {
			t.Errorf("no %s event in %d:\n%s", k, len(s.Events), s)
		}
	}
}
