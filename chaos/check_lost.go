package chaos

// CheckLostWrites compares the acknowledged write transactions with the
// final database: every op ID an acknowledged write recorded must be
// there. At remote_flush and stronger none may be missing; at weaker
// levels (and for an acknowledgement that carries a degraded warning) a
// loss is allowed but listed. A write reported as failed (its transaction
// rolled back) must not be there either.
//
// In an HA cluster a weak write can also be lost by a failover: the new
// primary never had it, and the old one discarded it when it rewound to
// follow. Such a loss must be listed in a lost-transactions file of the
// node that rewound; only at commit=off (acknowledged before the fsync,
// so a crash takes it without a trace) may it be missing from them.
func CheckLostWrites(ev *Evidence) (Verdict, []Op) {
	v := newVerdict("lost-writes")
	if ev.Final == nil {
		v.Status = Unknown
		v.note("no final read: %s", ev.FinalErr)
		return v, nil
	}
	byGTID, byID := listedOps(ev.LostFiles)
	if ev.HA {
		v.Counts["lost_files"] = int64(len(ev.LostFiles))
		for _, f := range ev.LostFiles {
			v.Counts["discarded_by_rewind"] += int64(len(f.Txns))
			if f.Err != "" {
				v.fail("%s: lost-transactions file %s is unreadable: %s", f.Node, f.Name, f.Err)
			}
		}
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
			listed := byGTID[op.GTID]
			if listed == "" || op.GTID == "" {
				listed = byID[op.ID]
			}
			if listed != "" {
				v.Counts["lost_listed"]++
			}
			switch {
			case strongCommit(op.Commit) && op.Warning == "":
				v.Counts["lost"]++
				v.fail("acknowledged %s op %d (commit=%s, lsn %s, gtid %s, node %s) is not in the database%s",
					op.Kind, op.ID, op.Commit, op.LSN, op.GTID, op.Node, listedSuffix(listed))
			case ev.HA && listed == "" && op.Commit != "off":
				v.Counts["lost_unlisted"]++
				v.fail("acknowledged %s op %d at a weak commit (commit=%s, lsn %s, gtid %s) is not in the database nor in any lost-transactions file",
					op.Kind, op.ID, op.Commit, op.LSN, op.GTID)
			default:
				v.Counts["lost_allowed"]++
				v.note("acknowledged %s op %d at a weak commit (commit=%s%s, lsn %s) is not in the database: allowed, listed%s",
					op.Kind, op.ID, op.Commit, warnSuffix(op.Warning), op.LSN, listedSuffix(listed))
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

func listedSuffix(where string) string {
	if where == "" {
		return ""
	}
	return "; discarded by a rewind, in " + where
}

func warnSuffix(w string) string {
	if w == "" {
		return ""
	}
	return ", warning: " + w
}
