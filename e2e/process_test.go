package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout bounds a collector's graceful shutdown before it is killed.
const stopTimeout = 15 * time.Second

// process is a collector binary running for one test. Its stdout and stderr
// are captured, and logged when the test fails.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{} // closed once the process has ended
	err    error         // Wait's result, set before exited is closed
}

// startProcess runs binary with args and exactly the given environment
// (plus PATH and HOME), and stops it when the test ends.
func startProcess(t *testing.T, binary string, env map[string]string, args ...string) *process {
	t.Helper()
	path, err := filepath.Abs(binary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: build it with `make e2e` (or `make otelcol peer`): %v", path, err)
	}
	p := &process{name: filepath.Base(path), exited: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = processEnv(env)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s %s\n--- stdout:\n%s\n--- stderr:\n%s", p.name, strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// processEnv keeps the child away from the caller's settings: only what the
// test sets reaches it, so a DETECTIFY_* or SPLUNK_* variable of the person
// running the tests cannot change what is tested.
func processEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// stop asks the process to shut down and kills it if it does not in time.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Errorf("%s did not stop within %s of SIGTERM; killing it", p.name, stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// running returns an error once the process has ended, so waits fail fast
// on a collector that refused its configuration.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited early (%v); its output is logged below", p.name, p.err)
	default:
		return nil
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
