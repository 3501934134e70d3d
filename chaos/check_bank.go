package chaos

import "fmt"

// CheckBank requires that every acknowledged read of the balances, on any
// node and at any level, and the final read, shows every account and the
// initial total, and no negative balance.
func CheckBank(ev *Evidence) Verdict {
	v := newVerdict("bank-invariant")
	if ev.Workload != "bank" {
		v.Status = NA
		return v
	}
	accounts := ev.BankAccounts
	check := func(what string, bal []int64) {
		v.Counts["reads"]++
		var sum int64
		for i, b := range bal {
			sum += b
			if b < 0 {
				v.Counts["negative"]++
				v.fail("%s: account %d has balance %d", what, i, b)
			}
		}
		if len(bal) != accounts {
			v.Counts["wrong_accounts"]++
			v.fail("%s: %d accounts, want %d", what, len(bal), accounts)
		}
		if sum != ev.BankTotal {
			v.Counts["wrong_total"]++
			v.fail("%s: total %d, want %d (balances %v)", what, sum, ev.BankTotal, bal)
		}
	}
	for _, op := range ev.Ops {
		if op.Kind != OpBalances || op.Result != OK {
			continue
		}
		check(fmt.Sprintf("op %d (balances on %s, level %s)", op.ID, op.Node, op.Level), op.Balances)
	}
	if ev.Final == nil {
		v.Status = Unknown
		v.note("no final read: %s", ev.FinalErr)
		return v
	}
	check("final read", ev.Final.Balances)
	return v
}
