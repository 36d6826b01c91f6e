package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisServer is a redis-server (the Debian package's) on a free loopback
// port with its own directory, for the replica tests. Started with
// persistence off (--save "" --appendonly no); restartKeepingData writes a
// snapshot on the way down, so the data survives a restart on the same
// port all the same.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	addr string

	cmd    *exec.Cmd
	out    syncBuffer
	exited chan struct{}
	err    error
}

// startRedis runs redis-server until the test ends. It fails, never skips,
// when redis-server is missing.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH: install it (Debian: apt-get install redis-server)")
	}
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), addr: freeAddr(t)}
	r.launch()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("redis-server %s output:\n%s", r.addr, r.out.String())
		}
	})
	return r
}

func (r *redisServer) launch() {
	r.t.Helper()
	_, port, _ := strings.Cut(r.addr, ":")
	r.cmd = exec.Command(r.bin,
		"--bind", "127.0.0.1", "--port", port, "--dir", r.dir, "--dbfilename", "dump.rdb",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	// Killed with the test binary if that dies first (go test -timeout).
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	cmd := r.cmd
	go func() {
		r.err = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := r.do("PING")
		if err == nil && reply == "PONG" {
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("redis-server exited at start: %v\n%s", r.err, r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server at %s not ready within %s: %v", r.addr, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends redis-server with SIGTERM (SIGKILL after 10s).
func (r *redisServer) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // in case a test left it stopped
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// suspend stops the process with SIGSTOP: connections stay open and
// commands hang, as with a Redis that is stuck or behind a dead network
// path. resume continues it.
func (r *redisServer) suspend() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

func (r *redisServer) resume() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// shutdownSaving stops redis-server after it has written its data to its
// directory (SHUTDOWN SAVE): connections are then refused until
// startAgain, which loads the data on the same port.
func (r *redisServer) shutdownSaving() {
	r.t.Helper()
	// The connection closes without an answer when the shutdown works.
	if reply, err := r.do("SHUTDOWN", "SAVE"); err == nil {
		r.t.Fatalf("SHUTDOWN SAVE answered %q", reply)
	}
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.t.Fatalf("redis-server did not exit within 10s of SHUTDOWN SAVE")
	}
	if !strings.Contains(r.out.String(), "DB saved on disk") {
		r.t.Fatalf("redis-server did not save its data on SHUTDOWN SAVE:\n%s", r.out.String())
	}
}

// startAgain starts redis-server on the same port and directory, with the
// data shutdownSaving wrote.
func (r *redisServer) startAgain() {
	r.t.Helper()
	r.launch()
}

// do sends one command and returns its reply as text: a simple string, a
// bulk string, an integer, or the elements of an array joined by "\n".
func (r *redisServer) do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readRESP(bufio.NewReader(conn))
}

func readRESP(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readRESP(br)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
