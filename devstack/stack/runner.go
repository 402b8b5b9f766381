// Package stack builds the ContactGuard binaries and runs them as child
// processes: it prefixes their logs, waits until each is ready, and stops,
// kills or restarts one by name. The run command and the end-to-end tests use it.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Probe makes one readiness check; nil means ready.
type Probe func(ctx context.Context) error

// Spec describes one child process.
type Spec struct {
	Name  string
	Path  string   // executable
	Args  []string // arguments after the executable
	Dir   string   // working directory (default: the current one)
	Env   []string // KEY=VALUE added to (and overriding) this process's environment
	Ready Probe    // nil: ready once started
}

// Runner starts and stops child processes.
type Runner struct {
	// Out receives the children's output, each line prefixed with "[name] ". Default os.Stderr.
	Out io.Writer
	// ReadyTimeout bounds the wait for a child to become ready. Default 60 s.
	ReadyTimeout time.Duration
	// StopTimeout is the time between SIGTERM and SIGKILL. Default 10 s.
	StopTimeout time.Duration
	// OnExit, if set, is called when a child exits without being asked to,
	// before anyone waiting on the child is released; it must not call Stop,
	// Kill or Restart for that same child.
	OnExit func(name string, err error)

	mu    sync.Mutex
	procs map[string]*proc
	order []string // names in start order
	outMu sync.Mutex
}

type proc struct {
	spec     Spec
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // exit error, valid after done
	stopping bool          // set before we signal it
}

func (r *Runner) out() io.Writer {
	if r.Out == nil {
		return os.Stderr
	}
	return r.Out
}

// Start starts the process and waits until it is ready. A process of the same
// name must not be running.
func (r *Runner) Start(ctx context.Context, spec Spec) error {
	p, err := r.launch(spec)
	if err != nil {
		return err
	}
	if err := r.waitReady(ctx, p); err != nil {
		_ = r.Kill(spec.Name)
		return err
	}
	return nil
}

// StartAll starts every spec at once and waits until all are ready.
// On failure the ones it started are stopped again.
func (r *Runner) StartAll(ctx context.Context, specs ...Spec) error {
	var started []*proc
	var err error
	for _, s := range specs {
		p, lerr := r.launch(s)
		if lerr != nil {
			err = lerr
			break
		}
		started = append(started, p)
	}
	if err == nil {
		errs := make([]error, len(started))
		var wg sync.WaitGroup
		for i, p := range started {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = r.waitReady(ctx, p)
			}()
		}
		wg.Wait()
		err = errors.Join(errs...)
	}
	if err != nil {
		for _, p := range started {
			_ = r.Stop(p.spec.Name)
		}
	}
	return err
}

func (r *Runner) launch(spec Spec) (*proc, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("stack: spec needs Name and Path")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs == nil {
		r.procs = map[string]*proc{}
	}
	if old, ok := r.procs[spec.Name]; ok && !exited(old) {
		return nil, fmt.Errorf("stack: %s is already running (pid %d)", spec.Name, old.cmd.Process.Pid)
	}

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	// Separate writers, so a partial line on one stream does not join a line of the other.
	stdout := &prefixWriter{prefix: "[" + spec.Name + "] ", out: r.out(), mu: &r.outMu}
	stderr := &prefixWriter{prefix: "[" + spec.Name + "] ", out: r.out(), mu: &r.outMu}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stack: start %s: %w", spec.Name, err)
	}
	p := &proc{spec: spec, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		r.mu.Lock()
		p.err = err
		asked := p.stopping
		r.mu.Unlock()
		// OnExit runs before done closes, so whoever waits on done (Start,
		// Stop) sees its effects. It must not wait on this process itself.
		if !asked && r.OnExit != nil {
			r.OnExit(spec.Name, err)
		}
		close(p.done)
	}()
	if _, ok := r.procs[spec.Name]; !ok {
		r.order = append(r.order, spec.Name)
	}
	r.procs[spec.Name] = p
	return p, nil
}

func exited(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (r *Runner) waitReady(ctx context.Context, p *proc) error {
	timeout := r.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p.spec.Ready == nil {
		return nil
	}
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("stack: %s exited before it was ready: %v", p.spec.Name, p.err)
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = p.spec.Ready(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack: %s not ready after %s: %v", p.spec.Name, timeout, last)
		case <-p.done:
			return fmt.Errorf("stack: %s exited before it was ready: %v", p.spec.Name, p.err)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

func (r *Runner) get(name string) (*proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[name]
	if !ok {
		return nil, fmt.Errorf("stack: no process named %q", name)
	}
	return p, nil
}

// Stop sends SIGTERM, waits up to StopTimeout, then sends SIGKILL, and waits
// for the process to exit. Stopping a process that has exited is not an error.
func (r *Runner) Stop(name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	timeout := r.StopTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	r.mu.Lock()
	p.stopping = true
	r.mu.Unlock()
	if exited(p) {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	fmt.Fprintf(r.out(), "[%s] did not stop within %s; killing it\n", name, timeout)
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// Kill sends SIGKILL and waits for the process to exit.
func (r *Runner) Kill(name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	p.stopping = true
	r.mu.Unlock()
	if exited(p) {
		return nil
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// Restart stops the process if it runs, starts it again with the same spec,
// and waits until it is ready.
func (r *Runner) Restart(ctx context.Context, name string) error {
	p, err := r.get(name)
	if err != nil {
		return err
	}
	if err := r.Stop(name); err != nil {
		return err
	}
	return r.Start(ctx, p.spec)
}

// StopAll stops every process, the last started first.
func (r *Runner) StopAll() {
	r.mu.Lock()
	names := append([]string(nil), r.order...)
	r.mu.Unlock()
	for i := len(names) - 1; i >= 0; i-- {
		_ = r.Stop(names[i])
	}
}

// Running reports whether the named process is running.
func (r *Runner) Running(name string) bool {
	p, err := r.get(name)
	return err == nil && !exited(p)
}

// PID returns the process id of the named process (0 if unknown).
func (r *Runner) PID(name string) int {
	p, err := r.get(name)
	if err != nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// prefixWriter writes complete lines, each with a prefix, to out.
type prefixWriter struct {
	prefix string
	out    io.Writer
	mu     *sync.Mutex
	buf    []byte
	bufMu  sync.Mutex
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line without newline
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
	return len(b), nil
}

func (w *prefixWriter) flush() {
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *prefixWriter) emit(line []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = io.WriteString(w.out, w.prefix)
	_, _ = w.out.Write(line)
}
