package nodetest

import (
	"bytes"
	"os"
	"sync"
)

// logBuffer keeps the nodes' logs in memory, the last maxLogBytes of them.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	live bool
}

const maxLogBytes = 1 << 20

func newLogBuffer(live bool) *logBuffer { return &logBuffer{live: live} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live {
		os.Stderr.Write(p)
	}
	if l.buf.Len()+len(p) > maxLogBytes {
		b := l.buf.Bytes()
		keep := b[max(len(b)-maxLogBytes/2, 0):]
		l.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return l.buf.Write(p)
}

// tail returns the last n bytes of the logs.
func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Contains reports whether the logs hold s.
func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s))
}

// Logs returns the last n bytes of every node's log.
func (c *Cluster) Logs(n int) string { return c.logs.tail(n) }

// LogsContain reports whether any node logged s (among the last MiB).
func (c *Cluster) LogsContain(s string) bool { return c.logs.contains(s) }
