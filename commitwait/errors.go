package commitwait

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// Errors returned by this package. Callers branch on them with errors.Is.
var (
	// ErrBadConfig reports standby config text or a Config that is not
	// valid. Parse errors are *ConfigError values that unwrap to it.
	ErrBadConfig = errors.New("commitwait: bad standby config")
	// ErrBadOptions reports Options that fail Validate.
	ErrBadOptions = errors.New("commitwait: bad options")
	// ErrTimeout reports a strict-mode Wait whose quorum did not acknowledge
	// in time. It comes as a *TimeoutError that names the standbys. The
	// record is already in the primary's log: the transaction is committed
	// locally and may still reach the standbys, but it was not confirmed.
	ErrTimeout = errors.New("commitwait: quorum not reached in time")
	// ErrClosed reports a Wait on, or interrupted by, a closed Waiter.
	ErrClosed = errors.New("commitwait: waiter closed")
	// ErrCanceled ends a Pending wait its owner gave up (Pending.Cancel).
	ErrCanceled = errors.New("commitwait: wait canceled")
)

// ConfigError describes a problem in standby config text. It unwraps to
// ErrBadConfig.
type ConfigError struct {
	Input string // the text given to Parse
	Pos   int    // 1-based byte position of the problem; 0 when it has none
	Msg   string // what is wrong and, where it helps, what to write instead
}

// Error quotes the input and says what is wrong at which position.
func (e *ConfigError) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("commitwait: standby config %q, position %d: %s", e.Input, e.Pos, e.Msg)
	}
	return fmt.Sprintf("commitwait: standby config %q: %s", e.Input, e.Msg)
}

// Unwrap returns ErrBadConfig.
func (e *ConfigError) Unwrap() error { return ErrBadConfig }

// TimeoutError reports a Wait that timed out in strict mode. It unwraps to
// ErrTimeout.
type TimeoutError struct {
	Level  command.CommitLevel
	LSN    lsn.LSN
	Config Config
	After  time.Duration
	// Standbys are the connected standbys' positions when the wait failed.
	Standbys map[string]Positions
}

// Error names the level, LSN and config, and where every standby the config
// names stands, so an operator can see which one is missing or behind.
func (e *TimeoutError) Error() string {
	return "commitwait: " + notReached(e.Config, e.Level, e.LSN, e.After, e.Standbys) +
		"; the transaction is in the primary's log but the standbys have not confirmed it"
}

// Unwrap returns ErrTimeout.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// notReached says which quorum was not reached for which LSN, and lists the
// standbys: "remote_flush ANY 1 (n2,n3) not reached for LSN 0/00001A00
// after 5s: connected n2 flush 0/00001000; n3 not connected".
func notReached(cfg Config, level command.CommitLevel, at lsn.LSN, after time.Duration, standbys map[string]Positions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s not reached for LSN %s after %s: ", level, cfg, at, after)
	b.WriteString(describeStandbys(cfg, level, standbys))
	return b.String()
}

// describeStandbys lists the listed standbys in config order, connected or
// not, then any connected standby that only '*' matches.
func describeStandbys(cfg Config, level command.CommitLevel, standbys map[string]Positions) string {
	i, _ := levelIndex(level)
	var parts []string
	seen := map[string]bool{}
	wildcard := false
	for _, n := range cfg.Names {
		if n == Wildcard {
			wildcard = true
			continue
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		if p, ok := standbys[n]; ok {
			parts = append(parts, fmt.Sprintf("connected %s %s %s", n, levelWords[i], p.at(i)))
		} else {
			parts = append(parts, n+" not connected")
		}
	}
	if wildcard {
		var others []string
		for _, n := range sortedNames(standbys) {
			if !seen[n] {
				others = append(others, fmt.Sprintf("connected %s %s %s", n, levelWords[i], standbys[n].at(i)))
			}
		}
		if len(others) == 0 && len(seen) == 0 {
			others = []string{"no standby connected"}
		} else if len(others) == 0 {
			others = []string{"no other standby connected for '*'"}
		}
		parts = append(parts, others...)
	}
	return strings.Join(parts, "; ")
}
