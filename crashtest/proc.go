package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-db/tandem/client"
)

// Errors returned by this package.
var (
	// ErrNotReady reports a node that kept running but did not answer
	// /readyz with 200 before the deadline; Start kills it.
	ErrNotReady = errors.New("crashtest: node did not become ready")
	// ErrStillRunning reports a node that did not exit before the deadline
	// after a signal.
	ErrStillRunning = errors.New("crashtest: node still running")
)

// Build compiles the tandem binary into dir and returns its path. It finds
// the module root with `go env GOMOD`, so it works from any package
// directory of the module; the build cache makes later builds cheap.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("crashtest: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("crashtest: go env GOMOD: not inside a module")
	}
	bin := filepath.Join(dir, "tandem")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tandem")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("crashtest: go build ./cmd/tandem: %w\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr returns a loopback address whose port was free a moment ago.
// Another process may take it before it is used; Start retries on that.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("crashtest: find a free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// Options say how to start a node.
type Options struct {
	// Binary is the tandem binary (see Build).
	Binary string
	// NodeID and DataDir are passed as --node-id and --data-dir.
	NodeID  string
	DataDir string
	// Args are extra `tandem serve` flags, e.g. "--segment-size", "4096".
	Args []string
	// HTTPAddr, when set, is the --http-addr to listen on, so a restarted
	// node keeps its address (an HA member's address is in the cluster
	// state). Start then makes one attempt: a taken port is an error.
	// Empty picks a free loopback port.
	HTTPAddr string
	// ReadyTimeout bounds the wait for /readyz; 0 means 30 s.
	ReadyTimeout time.Duration
	// Stderr, when set, also receives the node's stderr.
	Stderr io.Writer
}

// startAttempts bounds the retries of Start on a port collision.
const startAttempts = 5

// StartError reports a node that exited before it became ready, such as a
// node that refused to start on a corrupt log.
type StartError struct {
	Addr     string
	ExitCode int
	Stderr   string
}

// Error gives the exit code and the end of the node's stderr.
func (e *StartError) Error() string {
	return fmt.Sprintf("crashtest: tandem serve on %s exited with code %d before it was ready; stderr:\n%s",
		e.Addr, e.ExitCode, Tail(e.Stderr, 2048))
}

// Proc is one `tandem serve` child process.
type Proc struct {
	// Addr is the HTTP API address, host:port on loopback.
	Addr string

	opts   Options
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{} // closed when the process has exited
	state  *os.ProcessState
}

// Start runs `tandem serve` on a free loopback port (or opts.HTTPAddr)
// and returns once its /readyz answers 200. A node that exits first is a
// *StartError; when it exited because a free port was taken meanwhile,
// Start retries on another.
func Start(ctx context.Context, opts Options) (*Proc, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.HTTPAddr != "" {
		p, err := spawn(opts, opts.HTTPAddr)
		if err != nil {
			return nil, err
		}
		if err := p.waitReady(ctx, opts.ReadyTimeout); err != nil {
			return nil, err
		}
		return p, nil
	}
	var last error
	for range startAttempts {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := spawn(opts, addr)
		if err != nil {
			return nil, err
		}
		err = p.waitReady(ctx, opts.ReadyTimeout)
		if err == nil {
			return p, nil
		}
		var se *StartError
		if errors.As(err, &se) && strings.Contains(se.Stderr, "address already in use") {
			last = err
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("crashtest: no free port after %d attempts: %w", startAttempts, last)
}

func spawn(opts Options, addr string) (*Proc, error) {
	args := append([]string{"serve", "--node-id", opts.NodeID, "--data-dir", opts.DataDir, "--http-addr", addr}, opts.Args...)
	p := &Proc{Addr: addr, opts: opts, done: make(chan struct{})}
	p.cmd = exec.Command(opts.Binary, args...)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = &p.stderr
	if opts.Stderr != nil {
		p.cmd.Stderr = io.MultiWriter(&p.stderr, opts.Stderr)
	}
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("crashtest: start %s: %w", opts.Binary, err)
	}
	go func() {
		_ = p.cmd.Wait() // a non-zero exit is read from the ProcessState
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// waitReady polls /readyz until it answers 200, the process exits, or the
// deadline passes (then the process is killed).
func (p *Proc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.New(p.Addr, client.WithTimeout(time.Second), client.WithMaxConns(1))
	if err != nil {
		p.kill()
		return err
	}
	defer c.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = c.Ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return &StartError{Addr: p.Addr, ExitCode: p.state.ExitCode(), Stderr: p.Stderr()}
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("%w on %s within %v (last: %v); stderr:\n%s", ErrNotReady, p.Addr, timeout, last, Tail(p.Stderr(), 2048))
		case <-tick.C:
		}
	}
}

// Kill sends SIGKILL and waits for the process to go. Killing an exited
// process is a no-op.
func (p *Proc) Kill() error {
	return p.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop sends SIGTERM, waits up to timeout for a clean exit and returns an
// error unless the exit code is 0. A node still running is killed.
func (p *Proc) Stop(timeout time.Duration) error {
	if err := p.signal(syscall.SIGTERM, timeout); err != nil {
		p.kill()
		return err
	}
	if code := p.state.ExitCode(); code != 0 {
		return fmt.Errorf("crashtest: node on %s exited with code %d after SIGTERM; stderr:\n%s", p.Addr, code, Tail(p.Stderr(), 2048))
	}
	return nil
}

func (p *Proc) signal(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("crashtest: signal %v to node on %s: %w", sig, p.Addr, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: node on %s did not exit within %v of %v", ErrStillRunning, p.Addr, timeout, sig)
	}
}

// kill is Kill for cleanup paths, where the error has nowhere to go.
func (p *Proc) kill() { _ = p.Kill() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitCode returns the exit code, or -1 while the process runs or when a
// signal ended it.
func (p *Proc) ExitCode() int {
	select {
	case <-p.done:
		return p.state.ExitCode()
	default:
		return -1
	}
}

// Stderr returns what the node wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Client returns a client for the node's HTTP API.
func (p *Proc) Client(opts ...client.Option) (*client.Client, error) {
	return client.New(p.Addr, opts...)
}

// Tail returns the last n bytes of s, cut at a line start when it can be.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "...\n" + s
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
