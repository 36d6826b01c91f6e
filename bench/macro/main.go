// Command macro is the macro benchmark of docs/PERFORMANCE.md: three HTTP
// servers on loopback under the same load, interleaved round by round
// (A B C A B C), so that a noisy neighbour hurts all of them alike:
//
//   - ceiling: bench/ceiling, a bare net/http server that reads the body
//     and answers 200;
//   - detectify: otelcol-detectify (bench/configs/detectify.yaml):
//     signature verification, logs and metrics pipelines into nop,
//     dedup_window 0s so the repeated bodies are processed fully; plus a
//     flood of forged and of unsigned requests, which it must refuse;
//   - webhookevent: contrib's webhookeventreceiver into nop
//     (bench/configs/webhookevent.yaml);
//   - and, once per round, otelcol-detectify with the default dedup_window,
//     where all but the first pass over the mix are duplicates.
//
// The load is wrk with a Lua script cycling through a pre-signed payload mix
// (payload.go), keep-alive, at each concurrency for a fixed duration. wrk
// runs pinned to one core and the server to the other (taskset). For each
// run it reports requests/s, p50/p99 latency and the server's CPU time per
// request (utime+stime from /proc/PID/stat, before and after).
//
//	macro -bin ./bin -out bench/out [-duration 10s] [-rounds 2] [-conns 1,8,64]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

type options struct {
	bin, out, configs string
	duration, warmup  time.Duration
	rounds            int
	conns             []int
	floodConns        []int
	variantConns      []int
	targets           []string
	pin               bool
	serverCPU         string
	loadCPU           string
	quietWait         time.Duration
	profile           bool
	profileDuration   time.Duration
}

func main() {
	var o options
	var conns, flood, variant, targets string
	flag.StringVar(&o.bin, "bin", "bin", "folder with otelcol-detectify, otelcol-webhookevent and bench-ceiling")
	flag.StringVar(&o.out, "out", "bench/out", "folder for the results, logs and the Lua script")
	flag.StringVar(&o.configs, "configs", "bench/configs", "folder with the collector configs")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load after each server start")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of A B C (at least 2 for a spread)")
	flag.StringVar(&conns, "conns", "1,8,64", "concurrencies (wrk connections) of the signed mix")
	flag.StringVar(&flood, "flood-conns", "64", "concurrencies of the forged and unsigned floods against detectify; empty for none")
	flag.StringVar(&variant, "variant-conns", "64", "concurrencies of the detectify variants (default dedup_window; no internal traces; no internal telemetry)")
	flag.StringVar(&targets, "targets", "ceiling,detectify,webhookevent,detectify-dedup,detectify-notraces,detectify-notelemetry", "servers, in round order")
	flag.BoolVar(&o.pin, "pin", true, "pin the server and wrk to one core each with taskset")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "the server's core (taskset -c)")
	flag.StringVar(&o.loadCPU, "load-cpu", "1", "wrk's core (taskset -c)")
	flag.DurationVar(&o.quietWait, "quiet-wait", 10*time.Minute, "how long to wait for other processes to go quiet before each server")
	flag.BoolVar(&o.profile, "profile", true, "after the rounds, profile each server once under the highest concurrency (unmeasured runs)")
	flag.DurationVar(&o.profileDuration, "profile-duration", 20*time.Second, "length of each profiling run")
	flag.Parse()
	var err error
	if o.conns, err = parseInts(conns); err != nil || len(o.conns) == 0 {
		log.Fatalf("-conns: %q", conns)
	}
	if o.floodConns, err = parseInts(flood); err != nil {
		log.Fatalf("-flood-conns: %v", err)
	}
	if o.variantConns, err = parseInts(variant); err != nil {
		log.Fatalf("-variant-conns: %v", err)
	}
	o.targets = strings.Split(targets, ",")
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("not a positive number: %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// target is one server of the comparison.
type target struct {
	name    string
	label   string
	path    string
	binary  string
	args    func(addr string) []string
	env     func(addr string, telemetryPort int) []string
	signed  bool // its answers depend on the signature
	metrics bool // it serves the collector's own telemetry
	// pprofBinary serves /debug/pprof with configs/pprof.yaml merged in;
	// empty for the ceiling, which writes its profile itself.
	pprofBinary string
}

func targetsOf(o options) (map[string]target, error) {
	collectorEnv := func(dedup string) func(string, int) []string {
		return func(addr string, port int) []string {
			return []string{"BENCH_ENDPOINT=" + addr, "BENCH_SECRET=" + secret,
				"BENCH_DEDUP_WINDOW=" + dedup, "BENCH_TELEMETRY_PORT=" + strconv.Itoa(port)}
		}
	}
	config := func(names ...string) func(string) []string {
		var args []string
		for _, name := range names {
			args = append(args, "--config="+filepath.Join(o.configs, name))
		}
		return func(string) []string { return args }
	}
	pprofBuild := filepath.Join(o.bin, "otelcol-detectify-pprof")
	all := map[string]target{
		"ceiling": {name: "ceiling", label: "ceiling (net/http, read body, 200)", path: "/webhook",
			binary: filepath.Join(o.bin, "bench-ceiling"),
			args:   func(addr string) []string { return []string{"-addr", addr} },
			env:    func(string, int) []string { return nil }},
		"detectify": {name: "detectify", label: "otelcol-detectify (dedup_window 0s)", path: "/webhook",
			binary: filepath.Join(o.bin, "otelcol-detectify"), args: config("detectify.yaml"),
			env: collectorEnv("0s"), signed: true, metrics: true, pprofBinary: pprofBuild},
		"detectify-dedup": {name: "detectify-dedup", label: "otelcol-detectify (dedup_window 10m, default)", path: "/webhook",
			binary: filepath.Join(o.bin, "otelcol-detectify"), args: config("detectify.yaml"),
			env: collectorEnv("10m"), signed: true, metrics: true},
		"detectify-notraces": {name: "detectify-notraces", label: "otelcol-detectify (dedup_window 0s, service.telemetry.traces.level none)",
			path: "/webhook", binary: filepath.Join(o.bin, "otelcol-detectify"), args: config("detectify.yaml", "notraces.yaml"),
			env: collectorEnv("0s"), signed: true, metrics: true},
		// Its own metrics are off too, so there are no counters to read back.
		"detectify-notelemetry": {name: "detectify-notelemetry", label: "otelcol-detectify (dedup_window 0s, service.telemetry traces and metrics level none)",
			path: "/webhook", binary: filepath.Join(o.bin, "otelcol-detectify"), args: config("detectify.yaml", "notelemetry.yaml"),
			env: collectorEnv("0s"), signed: true},
		"webhookevent": {name: "webhookevent", label: "otelcol-webhookevent (contrib v0.156.0)", path: "/events",
			binary: filepath.Join(o.bin, "otelcol-webhookevent"), args: config("webhookevent.yaml"),
			env: collectorEnv(""), metrics: true, pprofBinary: filepath.Join(o.bin, "otelcol-webhookevent")},
	}
	out := map[string]target{}
	for _, name := range o.targets {
		t, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("unknown target %q", name)
		}
		if _, err := os.Stat(t.binary); err != nil {
			return nil, fmt.Errorf("%s: %w (make bench-macro builds it)", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// runResult is one measured wrk run.
type runResult struct {
	Round       int     `json:"round"`
	Target      string  `json:"target"`
	Scenario    string  `json:"scenario"` // signed mix, forged, unsigned
	Conns       int     `json:"conns"`
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50us       float64 `json:"p50_us"`
	P90us       float64 `json:"p90_us"`
	P99us       float64 `json:"p99_us"`
	MaxUs       float64 `json:"max_us"`
	Non2xx      int64   `json:"non_2xx"`
	SocketErrs  int64   `json:"socket_errors"`
	ServerCPUs  float64 `json:"server_cpu_s"`
	CPUPerReqUs float64 `json:"server_cpu_us_per_request"`
	ServerUtil  float64 `json:"server_cpu_cores"`
	WrkUtil     float64 `json:"wrk_cpu_cores"`
	OtherUtil   float64 `json:"other_cpu_cores"`
	OtherTop    string  `json:"other_busiest"`
	StealUtil   float64 `json:"steal_cores"` // CPU the hypervisor gave to other guests
	Load        string  `json:"load_at_start"`
}

// instance is one start of a server: its runs and what it counted itself.
type instance struct {
	Round         int      `json:"round"`
	Target        string   `json:"target"`
	WrkRequests   int64    `json:"wrk_requests_incl_warmup"`
	ServerCounted []string `json:"server_counted,omitempty"`
	Quiet         string   `json:"machine_before"`
}

type results struct {
	Machine   map[string]string `json:"machine"`
	Options   map[string]string `json:"options"`
	Runs      []runResult       `json:"runs"`
	Instances []instance        `json:"instances"`
	Warnings  []string          `json:"warnings,omitempty"`
}

type bench struct {
	o       options
	targets map[string]target
	lua     string
	logDir  string
	res     results
	taskset string
}

func run(o options) error {
	if err := os.MkdirAll(filepath.Join(o.out, "logs"), 0o755); err != nil {
		return err
	}
	targets, err := targetsOf(o)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found (scripts/install-deps.sh wrk=wrk installs it)")
	}
	b := &bench{o: o, targets: targets, lua: filepath.Join(o.out, "mix.lua"), logDir: filepath.Join(o.out, "logs")}
	if o.pin {
		if b.taskset, err = exec.LookPath("taskset"); err != nil {
			b.warn("taskset not found: server and wrk are not pinned")
		}
	}
	mix := payloadMix()
	if err := writeLua(b.lua, mix); err != nil {
		return err
	}
	b.res.Machine = machine(o, mix)
	b.res.Options = map[string]string{
		"duration": o.duration.String(), "warmup": o.warmup.String(), "rounds": strconv.Itoa(o.rounds),
		"conns": fmt.Sprint(o.conns), "flood_conns": fmt.Sprint(o.floodConns), "variant_conns": fmt.Sprint(o.variantConns),
		"targets": strings.Join(o.targets, ","), "pinned": strconv.FormatBool(b.taskset != ""),
		"server_cpu": o.serverCPU, "load_cpu": o.loadCPU, "payloads": strconv.Itoa(len(mix)),
	}
	b.logf("machine: %v", b.res.Machine)
	for round := 1; round <= o.rounds; round++ {
		for _, name := range o.targets {
			if err := b.runInstance(round, targets[name]); err != nil {
				return fmt.Errorf("round %d, %s: %w", round, name, err)
			}
			b.save() // partial results survive an interruption
		}
	}
	if o.profile {
		for _, p := range []struct{ target, mode string }{
			{"ceiling", "signed"}, {"detectify", "signed"}, {"detectify", "forged"}, {"webhookevent", "signed"},
		} {
			if t, ok := targets[p.target]; ok {
				if err := b.profileRun(t, p.mode); err != nil {
					b.warn("profile of %s (%s): %v", p.target, p.mode, err)
				}
			}
		}
	}
	b.res.Machine["load_at_end"] = loadAverage()
	if err := b.save(); err != nil {
		return err
	}
	report := renderReport(b.res)
	fmt.Print(report)
	return os.WriteFile(filepath.Join(o.out, "macro.md"), []byte(report), 0o644)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "macro: "+format+"\n", args...)
}

func (b *bench) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.res.Warnings = append(b.res.Warnings, msg)
	b.logf("WARNING: %s", msg)
}

func (b *bench) save() error {
	data, err := json.MarshalIndent(b.res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.o.out, "macro.json"), data, 0o644)
}

// scenarios are the measured runs against one server start.
type scenario struct {
	name  string // signed, forged, unsigned
	conns int
}

func (b *bench) scenariosOf(t target) []scenario {
	var out []scenario
	switch t.name {
	case "detectify-dedup", "detectify-notraces", "detectify-notelemetry":
		for _, c := range b.o.variantConns {
			out = append(out, scenario{"signed", c})
		}
		return out
	}
	for _, c := range b.o.conns {
		out = append(out, scenario{"signed", c})
	}
	if t.name == "detectify" {
		for _, c := range b.o.floodConns {
			out = append(out, scenario{"forged", c}, scenario{"unsigned", c})
		}
	}
	return out
}

func (b *bench) runInstance(round int, t target) error {
	_, seen := waitQuiet(b.o.quietWait, b.logf)
	inst := instance{Round: round, Target: t.name, Quiet: seen}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	telemetryPort, err := freePort()
	if err != nil {
		return err
	}

	logFile, err := os.Create(filepath.Join(b.logDir, fmt.Sprintf("r%d-%s.log", round, t.name)))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := b.pinned(b.o.serverCPU, t.binary, t.args(addr)...)
	cmd.Env = append(os.Environ(), t.env(addr, telemetryPort)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	b.logf("round %d: starting %s on %s", round, t.name, addr)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer stop(cmd)

	url := "http://" + addr + t.path
	if err := waitReady(url, 60*time.Second); err != nil {
		return fmt.Errorf("%s did not answer 200 (log: %s): %w", t.name, logFile.Name(), err)
	}
	if b.o.warmup > 0 {
		w, err := b.wrk(url, "signed", 8, b.o.warmup, logFile)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		inst.WrkRequests += w.Requests
	}
	for _, sc := range b.scenariosOf(t) {
		// A run that another process disturbed is measured again, after the
		// machine went quiet, up to twice.
		var r runResult
		for attempt := 1; ; attempt++ {
			r, err = b.measure(round, t, cmd.Process.Pid, url, sc, logFile)
			if err != nil {
				return err
			}
			inst.WrkRequests += r.Requests
			if r.OtherUtil <= noisyCores || attempt == 3 {
				break
			}
			b.logf("  %s %s c=%d: others used %.2f cores (%s); measuring again", t.name, sc.name, sc.conns, r.OtherUtil, r.OtherTop)
			waitQuiet(b.o.quietWait, b.logf)
		}
		b.res.Runs = append(b.res.Runs, r)
		b.logf("  %-16s %-8s c=%-3d %9.0f req/s  p50 %6.0fµs  p99 %7.0fµs  %6.1f µs CPU/req  server %.2f, wrk %.2f, others %.2f cores",
			t.name, sc.name, sc.conns, r.RPS, r.P50us, r.P99us, r.CPUPerReqUs, r.ServerUtil, r.WrkUtil, r.OtherUtil)
	}
	if t.metrics {
		inst.ServerCounted = scrapeCounts(telemetryPort)
	}
	b.res.Instances = append(b.res.Instances, inst)
	return nil
}

// measure runs wrk once against the server pid, with the CPU accounting.
func (b *bench) measure(round int, t target, pid int, url string, sc scenario, logFile io.Writer) (runResult, error) {
	r := runResult{Round: round, Target: t.name, Scenario: sc.name, Conns: sc.conns, Load: loadAverage()}
	time.Sleep(500 * time.Millisecond) // let the previous run's connections close
	procs0 := snapshotProcs()
	steal0 := stealTime()
	cpu0, _, err := procCPU(pid)
	if err != nil {
		return r, fmt.Errorf("server gone: %w", err)
	}
	start := time.Now()
	w, err := b.wrk(url, sc.name, sc.conns, b.o.duration, logFile)
	if err != nil {
		return r, err
	}
	elapsed := time.Since(start)
	cpu1, _, err := procCPU(pid)
	if err != nil {
		return r, fmt.Errorf("server gone: %w", err)
	}
	procs1 := snapshotProcs()
	steal1 := stealTime()
	other, busiest := otherCPU(procs0, procs1, pid, os.Getpid())

	r.Requests = w.Requests
	r.Seconds = w.DurationUs / 1e6
	r.RPS = float64(w.Requests) / r.Seconds
	r.P50us, r.P90us, r.P99us, r.MaxUs = w.P50us, w.P90us, w.P99us, w.MaxUs
	r.Non2xx = w.Status
	r.SocketErrs = w.Connect + w.Read + w.Write + w.Timeout
	r.ServerCPUs = (cpu1 - cpu0).Seconds()
	if w.Requests > 0 {
		r.CPUPerReqUs = r.ServerCPUs * 1e6 / float64(w.Requests)
	}
	r.ServerUtil = r.ServerCPUs / elapsed.Seconds()
	r.WrkUtil = w.cpu.Seconds() / elapsed.Seconds()
	r.OtherUtil = other.Seconds() / elapsed.Seconds()
	r.OtherTop = busiest
	r.StealUtil = (steal1 - steal0).Seconds() / elapsed.Seconds()

	switch {
	case w.Requests == 0:
		return r, fmt.Errorf("%s %s c=%d: no request completed", t.name, sc.name, sc.conns)
	case sc.name == "signed" && w.Status > 0:
		return r, fmt.Errorf("%s %s c=%d: %d answers were not 2xx", t.name, sc.name, sc.conns, w.Status)
	case sc.name != "signed" && w.Status != w.Requests:
		return r, fmt.Errorf("%s %s c=%d: %d of %d forged/unsigned requests were accepted", t.name, sc.name, sc.conns, w.Requests-w.Status, w.Requests)
	}
	if r.SocketErrs > 0 {
		b.warn("%s %s c=%d round %d: %d socket errors", t.name, sc.name, sc.conns, round, r.SocketErrs)
	}
	if r.OtherUtil > noisyCores {
		b.warn("%s %s c=%d round %d: other processes used %.2f cores (%s)", t.name, sc.name, sc.conns, round, r.OtherUtil, busiest)
	}
	return r, nil
}

// wrkResult is what the Lua done() prints, plus wrk's own CPU time.
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUs float64 `json:"duration_us"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`
	Timeout    int64   `json:"timeout"`
	P50us      float64 `json:"p50_us"`
	P90us      float64 `json:"p90_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	cpu        time.Duration
}

// wrk runs one thread (it has one core) with conns keep-alive connections.
func (b *bench) wrk(url, mode string, conns int, d time.Duration, logFile io.Writer) (wrkResult, error) {
	var w wrkResult
	args := []string{"-t1", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%.0fs", d.Seconds()),
		"--latency", "--timeout", "5s", "-s", b.lua, url, "--", mode}
	cmd := b.pinned(b.o.loadCPU, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, logFile)
	cmd.Stderr = logFile
	fmt.Fprintf(logFile, "\n== %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return w, fmt.Errorf("wrk: %w", err)
	}
	w.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "BENCHJSON "); ok {
			if err := json.Unmarshal([]byte(line), &w); err != nil {
				return w, fmt.Errorf("wrk summary: %w", err)
			}
			return w, nil
		}
	}
	return w, errors.New("wrk printed no summary")
}

// pinned runs name on cpu with taskset, which execs it: the PID is the
// program's.
// Children get SIGTERM when this program dies, so an interrupted run leaves
// no server behind.
func (b *bench) pinned(cpu, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if b.taskset == "" {
		cmd = exec.Command(name, args...)
	} else {
		cmd = exec.Command(b.taskset, append([]string{"-c", cpu, name}, args...)...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// freePort is freeAddr's port, for settings that take a port alone.
func freePort() (int, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// waitReady posts the first message of the mix, signed, until it gets 200.
func waitReady(url string, timeout time.Duration) error {
	body := webhooksend.SeedMessages()[0]
	sig := webhooksend.Sign([]byte(secret), body, webhooksend.EncodingHex)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhooksend.SignatureHeader, sig)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// scrapeCounts reads the collector's own request counters, to check that
// the load reached the receiver and was answered as expected.
func scrapeCounts(port int) []string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return []string{"scrape failed: " + err.Error()}
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "otelcol_receiver_accepted_log_records") ||
			strings.HasPrefix(line, "otelcol_receiver_refused_log_records") ||
			strings.HasPrefix(line, "otelcol_receiver_accepted_metric_points") ||
			strings.HasPrefix(line, "otelcol_receiver_detectify_requests") {
			out = append(out, compactLabels(line))
		}
	}
	return out
}

// compactLabels keeps a series' name, its outcome label if any, and value.
func compactLabels(line string) string {
	name, rest, ok := strings.Cut(line, "{")
	if !ok {
		return line
	}
	labels, value, _ := strings.Cut(rest, "}")
	keep := ""
	for _, l := range strings.Split(labels, ",") {
		if strings.HasPrefix(l, "outcome=") {
			keep = "{" + l + "}"
		}
	}
	return name + keep + value
}

// machine describes what the figures were measured on.
func machine(o options, mix [][]byte) map[string]string {
	m := map[string]string{
		"date":          time.Now().UTC().Format(time.RFC3339),
		"go":            runtime.Version(),
		"load_at_start": loadAverage(),
		"clk_tck":       strconv.Itoa(int(clockTicks)),
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m["work_tree"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("nproc", "--all").Output(); err == nil {
		m["nproc"] = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if out, err := exec.Command("wrk", "--version").CombinedOutput(); err == nil {
		m["wrk"] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	for _, name := range []string{"otelcol-detectify", "otelcol-webhookevent"} {
		if out, err := exec.Command(filepath.Join(o.bin, name), "--version").Output(); err == nil {
			m[name] = strings.TrimSpace(string(out))
		}
	}
	var total int
	for _, body := range mix {
		total += len(body)
	}
	m["payload_mix"] = fmt.Sprintf("%d bodies (the seed's 3 messages + %d generated findings), %d bytes on average",
		len(mix), len(mix)-3, total/len(mix))
	return m
}

// profileRun runs t once more under the highest concurrency with a CPU
// profile, to show what bounds it: the ceiling writes its own, a collector
// serves it from the pprof extension. Not part of the figures.
func (b *bench) profileRun(t target, mode string) error {
	name := fmt.Sprintf("profile-%s-%s", t.name, mode)
	prof, err := filepath.Abs(filepath.Join(b.o.out, name+".prof"))
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	telemetryPort, err := freePort()
	if err != nil {
		return err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(b.logDir, name+".log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	var cmd *exec.Cmd
	if t.pprofBinary == "" {
		cmd = b.pinned(b.o.serverCPU, t.binary, append(t.args(addr), "-cpuprofile", prof)...)
	} else {
		if _, err := os.Stat(t.pprofBinary); err != nil {
			return err
		}
		args := append(t.args(addr), "--config="+filepath.Join(b.o.configs, "pprof.yaml"))
		cmd = b.pinned(b.o.serverCPU, t.pprofBinary, args...)
		cmd.Env = append(os.Environ(), t.env(addr, telemetryPort)...)
		cmd.Env = append(cmd.Env, "BENCH_PPROF_ENDPOINT="+pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer stop(cmd)
	url := "http://" + addr + t.path
	if err := waitReady(url, 60*time.Second); err != nil {
		return err
	}
	if b.o.warmup > 0 {
		if _, err := b.wrk(url, mode, 8, b.o.warmup, logFile); err != nil {
			return err
		}
	}
	conns := b.o.conns[len(b.o.conns)-1]
	fetched := make(chan error, 1)
	if t.pprofBinary != "" {
		// Profile the middle of the run: start after a second, stop a
		// second before the end.
		seconds := max(1, int(b.o.profileDuration.Seconds())-2)
		go func() {
			time.Sleep(time.Second)
			fetched <- fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, seconds), prof)
		}()
	} else {
		fetched <- nil
	}
	if _, err := b.wrk(url, mode, conns, b.o.profileDuration, logFile); err != nil {
		return err
	}
	if err := <-fetched; err != nil {
		return err
	}
	stop(cmd) // the ceiling writes its profile as it stops
	b.logf("profile of %s under %s load, c=%d: %s", t.name, mode, conns, prof)
	return nil
}

func fetchProfile(url, path string) error {
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
