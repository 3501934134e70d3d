package chaos

import (
	"slices"
	"time"
)

// OpStats count a run's operations.
type OpStats struct {
	Total  int            `json:"total"`
	OK     int            `json:"ok"`
	Fail   int            `json:"fail"`
	Info   int            `json:"info"`
	ByKind map[string]int `json:"by_kind"`
}

// LatencyStats describe the acknowledged ops of one phase of a run.
type LatencyStats struct {
	Ops int `json:"ops"`
	// Seconds is how long the phase lasted; Throughput is acknowledged
	// ops per second in it.
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	// Unacknowledged counts the ops of the phase that failed or whose
	// outcome is unknown.
	Unacknowledged int `json:"unacknowledged"`
}

// Latency compares the ops that ran during a fault with the rest.
type Latency struct {
	FaultFree   LatencyStats `json:"fault_free"`
	UnderFaults LatencyStats `json:"under_faults"`
}

func opStats(ops []Op) OpStats {
	s := OpStats{ByKind: map[string]int{}}
	for _, op := range ops {
		s.Total++
		s.ByKind[op.Kind]++
		switch op.Result {
		case OK:
			s.OK++
		case Fail:
			s.Fail++
		default:
			s.Info++
		}
	}
	return s
}

// window is a span of the run.
type window struct{ from, to time.Duration }

// faultWindows returns the spans during which an injected fault was in
// force (a cut lasts until its scheduled end, while peers reconnect).
func faultWindows(recs []FaultRecord) []window {
	var ws []window
	for _, r := range recs {
		if r.Status != StatusInjected {
			continue
		}
		ws = append(ws, window{r.Start, max(r.End, r.Start+r.Dur)})
	}
	return ws
}

func overlaps(ws []window, from, to time.Duration) bool {
	for _, w := range ws {
		if from <= w.to && to >= w.from {
			return true
		}
	}
	return false
}

// latency splits the ops into those that overlapped a fault and the rest.
func latency(ops []Op, recs []FaultRecord, runTime time.Duration) Latency {
	ws := faultWindows(recs)
	var faulty time.Duration
	for _, w := range ws {
		faulty += min(w.to, runTime) - min(w.from, runTime)
	}
	var under, free []time.Duration
	var l Latency
	for _, op := range ops {
		during := overlaps(ws, op.Call, op.Return)
		if op.Result != OK {
			if during {
				l.UnderFaults.Unacknowledged++
			} else {
				l.FaultFree.Unacknowledged++
			}
			continue
		}
		if during {
			under = append(under, op.Latency())
		} else {
			free = append(free, op.Latency())
		}
	}
	fill := func(s *LatencyStats, lat []time.Duration, d time.Duration) {
		s.Ops, s.Seconds = len(lat), d.Seconds()
		if d > 0 {
			s.Throughput = float64(len(lat)) / d.Seconds()
		}
		if len(lat) == 0 {
			return
		}
		slices.Sort(lat)
		ms := func(q float64) float64 {
			return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)]) / float64(time.Millisecond)
		}
		s.P50, s.P99, s.Max = ms(0.50), ms(0.99), float64(lat[len(lat)-1])/float64(time.Millisecond)
	}
	fill(&l.UnderFaults, under, faulty)
	fill(&l.FaultFree, free, max(runTime-faulty, 0))
	return l
}

// Second is the throughput of one second of the run.
type Second struct {
	OK    int `json:"ok"`
	NotOK int `json:"not_ok"`
}

// perSecond counts the ops completed in each second of the run.
func perSecond(ops []Op, runTime time.Duration) []Second {
	n := int(runTime/time.Second) + 1
	out := make([]Second, n)
	for _, op := range ops {
		i := min(max(int(op.Return/time.Second), 0), n-1)
		if op.Result == OK {
			out[i].OK++
		} else {
			out[i].NotOK++
		}
	}
	return out
}
