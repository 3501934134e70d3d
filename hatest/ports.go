package hatest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are picked from [portLow, portHigh) minus the kernel's ephemeral
// range: a killed member's port must still be free when it restarts, and
// the ports of outgoing connections come from the ephemeral range.
const (
	portLow  = 20000
	portHigh = 65000
)

var ports struct {
	sync.Mutex
	given map[int]bool // never hand out a port twice in one test binary
}

// FreePorts returns n loopback addresses whose ports were free a moment
// ago, outside the ephemeral range.
func FreePorts(n int) ([]string, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	lo, hi := ephemeralRange()
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("hatest: no free loopback port outside the ephemeral range after 1000 tries")
		}
		p := portLow + rand.IntN(portHigh-portLow)
		if (p >= lo && p <= hi) || ports.given[p] {
			continue
		}
		addr := "127.0.0.1:" + strconv.Itoa(p)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("hatest: close probe listener %s: %w", addr, err)
		}
		ports.given[p] = true
		out = append(out, addr)
	}
	return out, nil
}

// ephemeralRange reads Linux's ephemeral port range; elsewhere it assumes
// the IANA range.
func ephemeralRange() (lo, hi int) {
	lo, hi = 49152, 65535
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return lo, hi
	}
	return l, h
}
