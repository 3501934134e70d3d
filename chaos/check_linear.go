package chaos

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// linearTimeout bounds porcupine's search; past it the verdict is unknown.
const linearTimeout = 60 * time.Second

// regInput and regOutput are a register op as porcupine sees it.
type regInput struct {
	kind          string
	value, expect int64
}

type regOutput struct {
	read    *int64
	swapped bool
	unknown bool // the client never learned the outcome
}

// registerModel is a single register per key, starting at 0, partitioned
// by key.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		var keys []int
		for _, op := range h {
			k := op.Metadata.(int)
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(int64), input.(regInput), output.(regOutput)
		switch in.kind {
		case OpRead:
			return out.read != nil && *out.read == s, s
		case OpWrite:
			return true, in.value
		case OpCAS:
			switch {
			case out.unknown && s == in.expect:
				return true, in.value
			case out.unknown:
				return true, s
			case out.swapped:
				return s == in.expect, in.value
			default:
				return s != in.expect, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		res := "?"
		switch {
		case out.unknown:
		case in.kind == OpRead && out.read != nil:
			res = fmt.Sprint(*out.read)
		case in.kind == OpCAS:
			res = fmt.Sprint(out.swapped)
		default:
			res = "ok"
		}
		switch in.kind {
		case OpWrite:
			return fmt.Sprintf("write(%d) -> %s", in.value, res)
		case OpCAS:
			return fmt.Sprintf("cas(%d, %d) -> %s", in.expect, in.value, res)
		}
		return "read() -> " + res
	},
}

// CheckLinearizable checks the register history with porcupine: strong
// reads, writes and compare-and-sets, per key. An op whose outcome the
// client never learned may take effect at any point after its invocation,
// or never; so may an acknowledged write at commit=off, which promises no
// durability. A failed read is left out.
func CheckLinearizable(ev *Evidence) Verdict {
	v := newVerdict("linearizable")
	if ev.Workload != "register" {
		v.Status = NA
		return v
	}
	// Acknowledged writes below remote_flush that a failover discarded
	// (the lost-writes checker has matched each to a lost-transactions
	// file, or failed): their level promised no survival, so they may have
	// taken effect or not.
	discarded := map[int64]bool{}
	for _, op := range ev.Lost {
		if op.Commit != "remote_flush" && op.Commit != "remote_apply" {
			discarded[op.ID] = true
		}
	}
	var hist []porcupine.Operation
	for _, op := range ev.Ops {
		if op.Kind != OpRead && op.Kind != OpWrite && op.Kind != OpCAS {
			continue
		}
		if op.Kind == OpRead && (op.Result != OK || op.Level != "strong") {
			continue
		}
		in := regInput{kind: op.Kind, value: op.Value, expect: op.Expect}
		out := regOutput{read: op.Read, swapped: op.Swapped}
		ret := int64(op.Return)
		if op.Result == Info || (op.Result == OK && op.Commit == "off") || discarded[op.ID] {
			out.unknown, ret = true, math.MaxInt64
		}
		if op.Result == Fail {
			continue // rolled back: it never happened
		}
		v.Counts[op.Kind]++
		if out.unknown {
			v.Counts["indeterminate"]++
		}
		hist = append(hist, porcupine.Operation{ClientId: op.Worker, Input: in, Output: out,
			Call: int64(op.Call), Return: ret, Metadata: op.Key})
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist, linearTimeout)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		v.Status = Unknown
		v.note("porcupine found no answer within %v over %d ops", linearTimeout, len(hist))
	case porcupine.Illegal:
		if len(discarded) > 0 {
			// A strong read may have seen a write that a failover then
			// discarded: at this commit level that is the documented cost
			// (the write is listed in a lost-transactions file), not a bug.
			v.Status = NA
			v.note("not promised: %d acknowledged writes at a commit level below remote_flush were discarded by failovers (each listed), and the history is not linearizable without them", len(discarded))
			break
		}
		fallthrough
	default:
		v.Status = Failed
		v.note("the register history of %d ops is not linearizable", len(hist))
		if ev.OutDir != "" {
			path := filepath.Join(ev.OutDir, "linearizability.html")
			if err := porcupine.VisualizePath(registerModel, info, path); err == nil {
				v.note("porcupine's visualization: %s", path)
			}
		}
	}
	return v
}
