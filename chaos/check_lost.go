package chaos

// CheckLostWrites compares the acknowledged write transactions with the
// final database: every op ID an acknowledged write recorded must be
// there. At remote_flush and stronger none may be missing; at weaker
// levels (and for an acknowledgement that carries a degraded warning) a
// loss is allowed but listed. A write reported as failed (its transaction
// rolled back) must not be there either.
func CheckLostWrites(ev *Evidence) (Verdict, []Op) {
	v := newVerdict("lost-writes")
	if ev.Final == nil {
		v.Status = Unknown
		v.note("no final read: %s", ev.FinalErr)
		return v, nil
	}
	var lost []Op
	for _, op := range ev.Ops {
		if !op.IsWrite() {
			continue
		}
		present := ev.Final.Present[op.ID]
		switch op.Result {
		case OK:
			v.Counts["acknowledged"]++
			if present {
				continue
			}
			lost = append(lost, op)
			if strongCommit(op.Commit) && op.Warning == "" {
				v.Counts["lost"]++
				v.fail("acknowledged %s op %d (commit=%s, lsn %s, gtid %s, node %s) is not in the database",
					op.Kind, op.ID, op.Commit, op.LSN, op.GTID, op.Node)
			} else {
				v.Counts["lost_allowed"]++
				v.note("acknowledged %s op %d at a weak commit (commit=%s%s, lsn %s) is not in the database: allowed, listed",
					op.Kind, op.ID, op.Commit, warnSuffix(op.Warning), op.LSN)
			}
		case Fail:
			v.Counts["failed"]++
			if present {
				v.Counts["phantom"]++
				v.fail("%s op %d was reported failed (%s) but is in the database", op.Kind, op.ID, op.Err)
			}
		case Info:
			if present {
				v.Counts["indeterminate_committed"]++
			} else {
				v.Counts["indeterminate_absent"]++
			}
		}
	}
	return v, lost
}

func warnSuffix(w string) string {
	if w == "" {
		return ""
	}
	return ", warning: " + w
}
