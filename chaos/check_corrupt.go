package chaos

// CheckCorruption requires that every flipped byte in a closed log segment
// was detected and reported, and never served: the node, started on the
// corrupt log, must refuse to start with an error that says the log is
// corrupt and names the segment, before it answers any request. (That the
// restored node then converged with the others is CheckConvergence's.)
func CheckCorruption(ev *Evidence) Verdict {
	v := newVerdict("corruption-detected")
	for _, f := range ev.Faults {
		fc := f.Flip
		if fc == nil {
			continue
		}
		v.Counts["flips"]++
		switch {
		case fc.Served:
			v.Counts["served"]++
			v.fail("%s served a log with a flipped byte (segment %s, LSN %s, offset %d): %s", fc.Node, fc.Segment, fc.LSN, fc.Offset, fc.Note)
		case !fc.Refused:
			v.Counts["undecided"]++
			v.fail("%s neither refused nor served after the flip in segment %s: %s", fc.Node, fc.Segment, fc.Note)
		case !fc.Reported:
			v.Counts["refused_unreported"]++
			v.fail("%s refused to start after the flip in segment %s, LSN %s, but its error does not say the log is corrupt and name the segment: %q",
				fc.Node, fc.Segment, fc.LSN, fc.Message)
		default:
			v.Counts["detected"]++
		}
		if !fc.Restored {
			v.Counts["not_restored"]++
			v.note("%s: the flipped byte could not be put back: %s", fc.Node, fc.Note)
		}
	}
	if v.Counts["flips"] == 0 {
		v.Status = NA
		v.note("no byte was flipped in this run")
	}
	return v
}
