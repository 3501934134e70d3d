package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
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
		case "freshness", "freshness_strict":
			err = fmt.Errorf("%w %s: bounded-staleness reads are not supported yet: use level=none or level=weak", ErrBadParam, key)
		}
		// Other rqlite parameters (wait, redirect, noleader, norwrandom,
		// retries, ...) have no meaning here and are ignored, as rqlite
		// ignores unknown ones.
		if err != nil {
			return p, err
		}
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
