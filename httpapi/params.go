package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// params are the query parameters of a request, checked once.
type params struct {
	tx        bool
	timings   bool
	pretty    bool
	assoc     bool
	blobArray bool
	compress  bool
	commit    command.CommitLevel
	level     command.ReadLevel
	maxLag    time.Duration
	minLSN    lsn.LSN
	// timeout bounds the request; zero means none.
	timeout time.Duration
	q       string
	hasQ    bool
	format  string
}

// parseParams reads the raw query string. Flags follow rqlite: a flag is on
// when its key is present ("?transaction", "?transaction=true"); unlike
// rqlite, an explicit false value ("?transaction=false", "=0", "=off")
// turns it off.
func parseParams(raw string) (params, error) {
	var p params
	if raw == "" {
		return p, nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return p, fmt.Errorf("%w: the query string is malformed: %v", ErrBadParam, err)
	}
	for key, vs := range values {
		v := vs[0]
		var err error
		switch key {
		case "transaction":
			p.tx, err = flag(key, v)
		case "timings":
			p.timings, err = flag(key, v)
		case "pretty":
			p.pretty, err = flag(key, v)
		case "associative":
			p.assoc, err = flag(key, v)
		case "blob_array":
			p.blobArray, err = flag(key, v)
		case "compress":
			p.compress, err = flag(key, v)
		case "commit":
			if p.commit, err = command.ParseCommitLevel(v); err != nil {
				err = fmt.Errorf("%w commit: %w", ErrBadParam, err)
			}
		case "level":
			// rqlite's linearizable level is what Tandem calls strong.
			if strings.EqualFold(strings.TrimSpace(v), "linearizable") {
				v = "strong"
			}
			if p.level, err = command.ParseReadLevel(v); err != nil {
				err = fmt.Errorf("%w level: %w", ErrBadParam, err)
			}
		case "timeout", "db_timeout":
			// Both bound the whole request; the tighter one wins.
			var d time.Duration
			if d, err = duration(key, v); err == nil && (p.timeout == 0 || d < p.timeout) {
				p.timeout = d
			}
		case "q":
			p.q, p.hasQ = v, true
		case "fmt":
			p.format = strings.ToLower(v)
		case "queue":
			err = fmt.Errorf("%w queue: queued writes are not supported: Tandem batches concurrent writes "+
				"with group commit, so send the request without ?queue", ErrBadParam)
		case "max_lag", "freshness":
			// rqlite's freshness is the same bound as Tandem's max_lag.
			p.maxLag, err = duration(key, v)
		case "freshness_strict":
			err = fmt.Errorf("%w %s: use level=bounded&max_lag=D, which always fails when the lag is over D", ErrBadParam, key)
		case "min_lsn":
			if p.minLSN, err = lsn.Parse(v); err != nil {
				err = fmt.Errorf("%w min_lsn: %w (use the lsn of a write response)", ErrBadParam, err)
			}
		}
		// Other rqlite parameters (wait, redirect, noleader, norwrandom,
		// retries, ...) have no meaning here and are ignored, as rqlite
		// ignores unknown ones.
		if err != nil {
			return p, err
		}
	}
	if p.level == command.ReadBounded && p.maxLag == 0 {
		return p, fmt.Errorf("%w level=bounded needs max_lag, e.g. level=bounded&max_lag=2s", ErrBadParam)
	}
	if p.maxLag > 0 && p.level != command.ReadBounded {
		if _, ok := values["level"]; ok {
			return p, fmt.Errorf("%w max_lag applies to level=bounded, not level=%s", ErrBadParam, p.level)
		}
		p.level = command.ReadBounded // rqlite's ?freshness alone implies it
	}
	return p, nil
}

// flag reads a boolean parameter whose presence means true.
func flag(key, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "true", "1", "on", "yes":
		return true, nil
	case "false", "0", "off", "no":
		return false, nil
	}
	return false, fmt.Errorf("%w %s=%q: use %s, %s=true or %s=false", ErrBadParam, key, v, key, key, key)
}

func duration(key, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w %s=%q: want a positive Go duration such as 500ms or 10s", ErrBadParam, key, v)
	}
	return d, nil
}
