package chaos

// CheckConvergence requires that, after every fault is healed and the
// cluster is quiet, every node answered, applied the same LSN, and holds
// the same rows (equal checksums of every workload table).
func CheckConvergence(ev *Evidence) Verdict {
	v := newVerdict("convergence")
	if len(ev.Contents) == 0 {
		v.Status = Unknown
		v.note("no node contents were read")
		return v
	}
	ref := ev.Contents[0]
	v.Counts["nodes"] = int64(len(ev.Contents))
	v.Counts["rows"] = ref.Rows
	for _, c := range ev.Contents {
		if c.Err != "" {
			v.Counts["unreadable"]++
			v.fail("%s: %s", c.Node, c.Err)
			continue
		}
		if c.Applied != ref.Applied {
			v.Counts["lsn_mismatch"]++
			v.fail("%s applied %s, %s applied %s", c.Node, c.Applied, ref.Node, ref.Applied)
		}
		if c.Checksum != ref.Checksum {
			v.Counts["diverged"]++
			v.fail("%s has %d rows (checksum %.12s), %s has %d (checksum %.12s)", c.Node, c.Rows, c.Checksum, ref.Node, ref.Rows, ref.Checksum)
		}
	}
	return v
}
