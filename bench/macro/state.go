package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// storageDir gives each start of a storage target a fresh, empty directory
// for file_storage (configs/storage.yaml), removed after it.
func storageDir(*bench) ([]string, *exec.Cmd, func(), error) {
	dir, err := os.MkdirTemp("", "bench-file-storage-")
	if err != nil {
		return nil, nil, nil, err
	}
	return []string{"BENCH_STORAGE_DIR=" + dir}, nil, func() { _ = os.RemoveAll(dir) }, nil
}

// redisServer starts an empty redis-server on a free loopback port for one
// start of detectify-redis (configs/redis.yaml), without persistence, pinned
// to -aux-cpu, and stops it after. Its CPU is reported beside the server's.
func redisServer(b *bench) ([]string, *exec.Cmd, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("redis-server not found (scripts/install-deps.sh installs it): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, nil, err
	}
	logFile, err := os.Create(filepath.Join(b.logDir, fmt.Sprintf("redis-%d.log", port)))
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := b.pinned(b.o.auxCPU, path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, nil, err
	}
	cleanup := func() { stop(cmd); logFile.Close() }
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitRedis(addr, 10*time.Second); err != nil {
		cleanup()
		return nil, nil, nil, fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	return []string{"BENCH_REDIS_ENDPOINT=" + addr}, cmd, cleanup, nil
}

// waitRedis sends PING until redis answers PONG.
func waitRedis(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(time.Second))
			_, err = conn.Write([]byte("PING\r\n"))
			var line string
			if err == nil {
				line, err = bufio.NewReader(conn).ReadString('\n')
			}
			conn.Close()
			if err == nil && line == "+PONG\r\n" {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("answered %q", line)
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return last
}
