package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the Prometheus/Alertmanager end-to-end test. Prefixed prom so
// they cannot collide with the other e2e tests' helpers.

// promRepoRoot is the receiver repository: the e2e module lives in its e2e/.
func promRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// promRequireBinary returns the path of an external program the test runs,
// failing (never skipping) with how to get it when it is missing.
func promRequireBinary(t *testing.T, nameOrPath, howToInstall string) string {
	t.Helper()
	if strings.ContainsRune(nameOrPath, filepath.Separator) {
		if info, err := os.Stat(nameOrPath); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			t.Fatalf("%s is missing or not executable: %s", nameOrPath, howToInstall)
		}
		return nameOrPath
	}
	path, err := exec.LookPath(nameOrPath)
	if err != nil {
		t.Fatalf("%s is not on PATH: %s", nameOrPath, howToInstall)
	}
	return path
}

// promProcess is an external program started by a test, stopped at cleanup,
// its combined output kept in a file and shown when the test fails.
type promProcess struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// promStart starts bin with args (and env added to the test's environment).
// The process gets SIGTERM, then SIGKILL after 10s, when the test ends.
func promStart(t *testing.T, name string, env []string, bin string, args ...string) *promProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Killed with the test binary if that dies first (e.g. go test -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s (%s): %v", name, bin, err)
	}
	p := &promProcess{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d): %s %s", name, cmd.Process.Pid, bin, strings.Join(args, " "))
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

func (p *promProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *promProcess) stop(t *testing.T) {
	if p.exited() {
		t.Logf("%s had already exited: %v", p.name, p.waitErr)
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s did not stop within 10s of SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// dumpLog writes the process's output (its last 64 KiB) to the test log.
func (p *promProcess) dumpLog(t *testing.T) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Logf("%s log: %v", p.name, err)
		return
	}
	const keep = 64 << 10
	if len(b) > keep {
		b = append([]byte("...\n"), b[len(b)-keep:]...)
	}
	t.Logf("---- %s output (%s) ----\n%s\n---- end of %s output ----", p.name, p.logPath, b, p.name)
}

// promWaitFor polls check every interval until it returns nil, failing the
// test after timeout with its last error. Any process in watch that exits
// meanwhile fails the test at once.
func promWaitFor(t *testing.T, what string, timeout time.Duration, watch []*promProcess, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last error
	for {
		for _, p := range watch {
			if p.exited() {
				t.Fatalf("waiting for %s: %s exited: %v", what, p.name, p.waitErr)
			}
		}
		if last = check(); last == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %v", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var promHTTP = &http.Client{Timeout: 5 * time.Second}

// promGetOK reports nil when GET url answers 200.
func promGetOK(url string) error {
	resp, err := promHTTP.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// promSample is one element of an instant-query vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix seconds, "value"]
}

func (s promSample) value() (float64, error) {
	str, ok := s.Value[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", s.Value[1])
	}
	return strconv.ParseFloat(str, 64)
}

// promQuery runs an instant query against Prometheus's HTTP API.
func promQuery(ctx context.Context, baseURL, query string) ([]promSample, error) {
	u := baseURL + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := promHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w: %s", query, resp.Status, err, body)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, out.Error)
	}
	if out.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", query, out.Data.ResultType)
	}
	return out.Data.Result, nil
}

// promQueryValue runs query and returns the value of its only sample.
func promQueryValue(ctx context.Context, baseURL, query string) (float64, promSample, error) {
	samples, err := promQuery(ctx, baseURL, query)
	if err != nil {
		return 0, promSample{}, err
	}
	if len(samples) != 1 {
		return 0, promSample{}, fmt.Errorf("query %q: %d samples, want 1: %v", query, len(samples), samples)
	}
	v, err := samples[0].value()
	return v, samples[0], err
}

// promRewrite replaces each old string of a config, which must occur exactly
// once, so an example file that drifts from what the test expects fails
// loudly instead of being half rewritten.
func promRewrite(t *testing.T, name, text string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("promRewrite: odd number of strings")
	}
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(text, pairs[i]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, the test expects it once", name, pairs[i], n)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// promWriteFile writes a file into the test's temporary directory.
func promWriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return path
}

// promLabelValues lists a label's values on the series matching match, as
// Grafana's label_values(series, label) variable query does.
func promLabelValues(ctx context.Context, baseURL, label, match string) ([]string, error) {
	u := baseURL + "/api/v1/label/" + url.PathEscape(label) + "/values?" + url.Values{"match[]": {match}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := promHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", u, resp.Status, err)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, out.Error)
	}
	return out.Data, nil
}
