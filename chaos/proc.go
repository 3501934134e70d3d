package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/crashtest"
)

const (
	// readyTimeout bounds the wait for a started node's /readyz.
	readyTimeout = 30 * time.Second
	// startAttempts bounds the retries on a port another process took.
	startAttempts = 5
	// exitTimeout bounds the wait for a signalled node to exit.
	exitTimeout = 10 * time.Second
)

// StartError reports a node that exited before it became ready, such as a
// node that refused to start on a corrupt log.
type StartError struct {
	Node     string
	ExitCode int
	Stderr   string
}

// Error gives the node, its exit code and the end of its stderr.
func (e *StartError) Error() string {
	return fmt.Sprintf("chaos: node %s exited with code %d before it was ready; stderr:\n%s", e.Node, e.ExitCode, crashtest.Tail(e.Stderr, 2048))
}

// proc is one run of `tandem serve` as a child process. It starts on a
// fresh HTTP port and an ephemeral replication port; proxies in front of
// it follow it to new ports across restarts.
type proc struct {
	id       string
	httpAddr string
	replAddr string
	raftAddr string // HA members only
	cmd      *exec.Cmd
	stderr   *tailBuffer
	done     chan struct{}
	state    *os.ProcessState
}

// procSpec says how to start a node.
type procSpec struct {
	binary  string
	id      string
	dataDir string
	args    []string
	log     io.Writer // also receives stderr; may be nil
	// raft makes the node an HA member on a fresh raft port.
	raft bool
}

// startProc runs the node and returns once /readyz answers 200, with the
// replication address the node bound. A node that exits first is a
// *StartError; on a port collision it retries. publish is given each
// process as soon as it runs, and nil once that one failed: an HA member
// must be reachable through its proxies before it is ready, since it joins
// the cluster first.
func startProc(ctx context.Context, s procSpec, publish func(*proc)) (*proc, string, error) {
	var last error
	for range startAttempts {
		addr, err := crashtest.FreeAddr()
		if err != nil {
			return nil, "", err
		}
		p, err := spawn(s, addr)
		if err != nil {
			return nil, "", err
		}
		publish(p)
		err = p.waitReady(ctx, readyTimeout)
		if err == nil {
			repl, err := p.readReplAddr(ctx)
			if err != nil {
				publish(nil)
				return nil, "", errors.Join(err, p.kill())
			}
			return p, repl, nil
		}
		publish(nil)
		var se *StartError
		if errors.As(err, &se) && strings.Contains(se.Stderr, "address already in use") {
			last = err
			continue
		}
		return nil, "", err
	}
	return nil, "", fmt.Errorf("chaos: node %s: no free port after %d attempts: %w", s.id, startAttempts, last)
}

func spawn(s procSpec, addr string) (*proc, error) {
	args := append([]string{"serve", "--node-id", s.id, "--data-dir", s.dataDir, "--http-addr", addr,
		"--repl-addr", "127.0.0.1:0"}, s.args...)
	p := &proc{id: s.id, httpAddr: addr, stderr: newTailBuffer(256 << 10), done: make(chan struct{})}
	if s.raft {
		// A fixed port: raft's listener is not reported in /status (that
		// gives the advertised address), and the proxy must find it.
		raft, err := crashtest.FreeAddr()
		if err != nil {
			return nil, err
		}
		p.raftAddr = raft
		args = append(args, "--raft-addr", raft)
	}
	p.cmd = exec.Command(s.binary, args...)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	if s.log != nil {
		p.cmd.Stderr = io.MultiWriter(p.stderr, s.log)
	}
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start %s: %w", s.binary, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit code is read from the ProcessState
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

func (p *proc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.New(p.httpAddr, client.WithTimeout(time.Second), client.WithMaxConns(1))
	if err != nil {
		p.signal(syscall.SIGKILL)
		return err
	}
	defer c.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		last := c.Ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return &StartError{Node: p.id, ExitCode: p.state.ExitCode(), Stderr: p.stderr.String()}
		case <-ctx.Done():
			p.signal(syscall.SIGKILL)
			return fmt.Errorf("chaos: node %s not ready within %v (last: %v); stderr:\n%s", p.id, timeout, last, crashtest.Tail(p.stderr.String(), 2048))
		case <-tick.C:
		}
	}
}

// readReplAddr learns the replication port the node bound.
func (p *proc) readReplAddr(ctx context.Context) (string, error) {
	c, err := client.New(p.httpAddr, client.WithTimeout(2*time.Second), client.WithMaxConns(1))
	if err != nil {
		return "", err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("chaos: status of %s: %w", p.id, err)
	}
	n, _ := st["node"].(map[string]any)
	repl, _ := n["repl_addr"].(string)
	return repl, nil
}

// signal sends sig; an exited process is not an error.
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("chaos: signal %v to %s: %w", sig, p.id, err)
	}
	return nil
}

// kill sends SIGKILL (which also ends a stopped process) and waits.
func (p *proc) kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return p.wait(exitTimeout)
}

// stop sends SIGCONT and SIGTERM, waits for a clean exit, and kills the
// node if it does not go in time.
func (p *proc) stop() error {
	_ = p.signal(syscall.SIGCONT)
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := p.wait(exitTimeout); err != nil {
		_ = p.kill()
		return err
	}
	return nil
}

func (p *proc) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("chaos: node %s did not exit within %v", p.id, timeout)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tailBuffer keeps the last max bytes written to it; safe for one writer
// and many readers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
