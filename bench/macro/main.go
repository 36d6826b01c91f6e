// Command macro is the macro benchmark of docs/PERFORMANCE.md: HTTP
// servers on loopback under the same load, interleaved round by round
// (A B C A B C), so that a noisy neighbour hurts all of them alike:
//
//   - ceiling: bench/ceiling, a bare net/http server that reads the body
//     and answers 200;
//   - detectify: otelcol-detectify-bench (bench/detectify, ocb v0.156.0;
//     bench/configs/detectify.yaml): signature verification, logs and
//     metrics pipelines into nop, dedup_window 0s so the repeated bodies
//     are processed fully; plus a flood of forged and of unsigned
//     requests, which it must refuse;
//   - webhookevent: contrib's webhookeventreceiver into nop, the same
//     collector release (bench/configs/webhookevent.yaml);
//   - and, once per round at -variant-conns, detectify variants: the
//     default dedup_window (all but the first pass over the mix are
//     duplicates), no internal traces, no internal telemetry,
//     storage: file_storage (dedup off and on), shared_state: redis
//     (dedup on; a redis-server this program starts and stops);
//   - -extra adds other builds of the receiver (e.g. older commits, built
//     by bench/bench.mk from BENCH_VARIANTS) with a detectify target's
//     config and scenarios; -baseline adds each target's ratio to one.
//
// The load is wrk with a Lua script cycling through a pre-signed payload mix
// (payload.go), keep-alive, at each concurrency for a fixed duration. wrk
// runs pinned to one core and the server to the other (taskset). For each
// run it reports requests/s, p50/p99 latency and the server's CPU time per
// request (utime+stime from /proc/PID/stat, before and after).
//
//	macro -bin ./bin -out bench/out [-duration 10s] [-rounds 2] [-conns 1,8,64]
//	      [-extra old=bin/otelcol-variant-old,old-dedup=detectify-dedup:bin/otelcol-variant-old] [-baseline old]
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
	"slices"
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
	extras            []extraTarget
	baseline          string
	rotate            bool
	bursts            int
	pin               bool
	serverCPU         string
	loadCPU           string
	auxCPU            string
	quietWait         time.Duration
	profile           bool
	profileDuration   time.Duration
}

func main() {
	var o options
	var conns, flood, variant, targets, extra string
	flag.StringVar(&o.bin, "bin", "bin", "folder with otelcol-detectify, otelcol-webhookevent and bench-ceiling")
	flag.StringVar(&o.out, "out", "bench/out", "folder for the results, logs and the Lua script")
	flag.StringVar(&o.configs, "configs", "bench/configs", "folder with the collector configs")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load after each server start")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of A B C (at least 2 for a spread)")
	flag.StringVar(&conns, "conns", "1,8,64", "concurrencies (wrk connections) of the signed mix")
	flag.StringVar(&flood, "flood-conns", "64", "concurrencies of the forged and unsigned floods against detectify; empty for none")
	flag.StringVar(&variant, "variant-conns", "64", "concurrencies of the detectify variants (default dedup_window; no internal traces; no internal telemetry)")
	flag.StringVar(&targets, "targets", "ceiling,detectify,webhookevent,detectify-dedup,detectify-notraces,detectify-notelemetry,"+
		"detectify-storage,detectify-storage-dedup,detectify-redis", "servers, in round order (extras not named here run after them)")
	flag.Func("extra", "more receiver builds, comma-separated NAME=[BASE:]BINARY[+BENCH_VAR=VALUE...] (repeatable): BINARY run with target BASE's config "+
		"and scenarios (default detectify), and those variables for its config",
		func(v string) error { extra = strings.TrimPrefix(extra+","+v, ","); return nil })
	flag.BoolVar(&o.rotate, "rotate", false, "start each round one target later in the order (A B C, B C A, ...), so no target always follows the same one")
	flag.IntVar(&o.bursts, "bursts", 0, "when set: each round starts every target at once, all on the server core, and measures them in turn this many times, "+
		"each run -duration long (e.g. 2s); each cycle is a round of the report, so ratios compare runs seconds apart, not a minute")
	flag.StringVar(&o.baseline, "baseline", "", "a target to divide every other target's runs by, round by round (e.g. an -extra build of an older commit)")
	flag.BoolVar(&o.pin, "pin", true, "pin the server and wrk to one core each with taskset")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "the server's core (taskset -c)")
	flag.StringVar(&o.loadCPU, "load-cpu", "1", "wrk's core (taskset -c)")
	flag.StringVar(&o.auxCPU, "aux-cpu", "", "redis-server's core for detectify-redis (default: wrk's, which has room; the server's core stays the collector's)")
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
	if o.extras, err = parseExtras(extra); err != nil {
		log.Fatalf("-extra: %v", err)
	}
	for _, e := range o.extras {
		if !slices.Contains(o.targets, e.name) {
			o.targets = append(o.targets, e.name)
		}
	}
	if o.auxCPU == "" {
		o.auxCPU = o.loadCPU
	}
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

// extraTarget is another build of the receiver, run as target base runs,
// with more environment for its config (e.g. BENCH_METRICS_INTERVAL).
type extraTarget struct {
	name, base, binary string
	env                []string
}

func parseExtras(s string) ([]extraTarget, error) {
	var out []extraTarget
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		name, binary, ok := strings.Cut(f, "=")
		if !ok || name == "" || binary == "" {
			return nil, fmt.Errorf("want NAME=[BASE:]BINARY, got %q", f)
		}
		parts := strings.Split(binary, "+")
		binary = parts[0]
		base := "detectify"
		if b, path, ok := strings.Cut(binary, ":"); ok {
			base, binary = b, path
		}
		for _, kv := range parts[1:] {
			if k, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(k, "BENCH_") {
				return nil, fmt.Errorf("%s: want +BENCH_NAME=VALUE, got %q", name, kv)
			}
		}
		out = append(out, extraTarget{name, base, binary, parts[1:]})
	}
	return out, nil
}

// target is one server of the comparison.
type target struct {
	name    string
	kind    string // the target whose scenarios it runs: its own name, or an extra's base
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
	// prepare, when set, runs before each start: a storage directory, a
	// redis-server. It returns more environment for the server, the
	// process to account for beside it (nil for none), and what undoes it.
	prepare func(b *bench) (env []string, aux *exec.Cmd, cleanup func(), err error)
}

// detectifyBinary is the collector every detectify target runs: the
// receiver of this work tree on the peer's collector release.
const detectifyBinary = "otelcol-detectify-bench"

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
	detectify := filepath.Join(o.bin, detectifyBinary)
	all := map[string]target{
		"ceiling": {name: "ceiling", label: "ceiling (net/http, read body, 200)", path: "/webhook",
			binary: filepath.Join(o.bin, "bench-ceiling"),
			args:   func(addr string) []string { return []string{"-addr", addr} },
			env:    func(string, int) []string { return nil }},
		"detectify": {name: "detectify", label: "otelcol-detectify-bench (dedup_window 0s)", path: "/webhook",
			binary: detectify, args: config("detectify.yaml"),
			env: collectorEnv("0s"), signed: true, metrics: true, pprofBinary: detectify},
		"detectify-dedup": {name: "detectify-dedup", label: "otelcol-detectify-bench (dedup_window 10m, default)", path: "/webhook",
			binary: detectify, args: config("detectify.yaml"),
			env: collectorEnv("10m"), signed: true, metrics: true, pprofBinary: detectify},
		"detectify-notraces": {name: "detectify-notraces", label: "otelcol-detectify-bench (dedup_window 0s, service.telemetry.traces.level none)",
			path: "/webhook", binary: detectify, args: config("detectify.yaml", "notraces.yaml"),
			env: collectorEnv("0s"), signed: true, metrics: true},
		// Its own metrics are off too, so there are no counters to read back.
		"detectify-notelemetry": {name: "detectify-notelemetry", label: "otelcol-detectify-bench (dedup_window 0s, service.telemetry traces and metrics level none)",
			path: "/webhook", binary: detectify, args: config("detectify.yaml", "notelemetry.yaml"),
			env: collectorEnv("0s"), signed: true},
		// storage: file_storage, a fresh directory per start: every webhook's
		// effect is written before it is answered (grouped across requests).
		"detectify-storage": {name: "detectify-storage", label: "otelcol-detectify-bench (dedup_window 0s, storage: file_storage)",
			path: "/webhook", binary: detectify, args: config("detectify.yaml", "storage.yaml"),
			env: collectorEnv("0s"), signed: true, metrics: true, pprofBinary: detectify, prepare: storageDir},
		"detectify-storage-dedup": {name: "detectify-storage-dedup", label: "otelcol-detectify-bench (dedup_window 10m, storage: file_storage)",
			path: "/webhook", binary: detectify, args: config("detectify.yaml", "storage.yaml"),
			env: collectorEnv("10m"), signed: true, metrics: true, pprofBinary: detectify, prepare: storageDir},
		// shared_state: redis with dedup on: each webhook's claim is a Redis
		// round trip (a duplicate's only one). A fresh redis-server per start.
		"detectify-redis": {name: "detectify-redis", label: "otelcol-detectify-bench (dedup_window 10m, shared_state: redis on loopback)",
			path: "/webhook", binary: detectify, args: config("detectify.yaml", "redis.yaml"),
			env: collectorEnv("10m"), signed: true, metrics: true, pprofBinary: detectify, prepare: redisServer},
		"webhookevent": {name: "webhookevent", label: "otelcol-webhookevent (contrib v0.156.0)", path: "/events",
			binary: filepath.Join(o.bin, "otelcol-webhookevent"), args: config("webhookevent.yaml"),
			env: collectorEnv(""), metrics: true, pprofBinary: filepath.Join(o.bin, "otelcol-webhookevent")},
	}
	for name, t := range all {
		t.kind = name
		all[name] = t
	}
	for _, e := range o.extras {
		t, ok := all[e.base]
		if !ok || t.kind == "ceiling" || t.kind == "webhookevent" {
			return nil, fmt.Errorf("-extra %s: %q is not a detectify target", e.name, e.base)
		}
		if _, taken := all[e.name]; taken {
			return nil, fmt.Errorf("-extra %s: the name of a target already", e.name)
		}
		t.name, t.binary, t.pprofBinary = e.name, e.binary, e.binary // built from the same manifest, with pprof
		t.label = fmt.Sprintf("%s, as %s", e.binary, e.base)
		if len(e.env) > 0 {
			env, more := t.env, e.env
			t.env = func(addr string, port int) []string { return append(env(addr, port), more...) }
			t.label += ", " + strings.Join(e.env, " ")
		}
		all[e.name] = t
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
	// A process the server depends on (redis-server), accounted apart.
	AuxName        string  `json:"aux,omitempty"`
	AuxUtil        float64 `json:"aux_cpu_cores,omitempty"`
	AuxCPUPerReqUs float64 `json:"aux_cpu_us_per_request,omitempty"`
}

func auxNote(r runResult) string {
	if r.AuxName == "" {
		return ""
	}
	return fmt.Sprintf("%s %.2f (%.1f µs/req), ", r.AuxName, r.AuxUtil, r.AuxCPUPerReqUs)
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
	exclude []int // the other servers of a -bursts round
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
		"server_cpu": o.serverCPU, "load_cpu": o.loadCPU, "aux_cpu": o.auxCPU, "payloads": strconv.Itoa(len(mix)),
		"baseline": o.baseline, "rotate": strconv.FormatBool(o.rotate), "bursts": strconv.Itoa(o.bursts),
	}
	for _, name := range o.targets {
		b.res.Options["target "+name] = targets[name].label
	}
	b.logf("machine: %v", b.res.Machine)
	for round := 1; round <= o.rounds; round++ {
		order := o.targets
		if o.rotate {
			k := (round - 1) % len(order)
			order = append(slices.Clone(order[k:]), order[:k]...)
		}
		if o.bursts > 0 {
			if err := b.runAlternating(round); err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			continue
		}
		for _, name := range order {
			if err := b.runInstance(round, targets[name]); err != nil {
				return fmt.Errorf("round %d, %s: %w", round, name, err)
			}
			b.save() // partial results survive an interruption
		}
	}
	if o.profile {
		profiles := []struct{ target, mode string }{
			{"ceiling", "signed"}, {"detectify", "signed"}, {"detectify", "forged"}, {"webhookevent", "signed"},
		}
		// Extras too (other builds of the receiver), as their base runs.
		for _, e := range o.extras {
			profiles = append(profiles, struct{ target, mode string }{e.name, "signed"})
			if e.base == "detectify" {
				profiles = append(profiles, struct{ target, mode string }{e.name, "forged"})
			}
		}
		if len(o.extras) > 0 {
			profiles = append(profiles, struct{ target, mode string }{"detectify-dedup", "signed"})
		}
		// The state's targets, signed, whatever else is measured.
		for _, name := range []string{"detectify-storage", "detectify-redis"} {
			profiles = append(profiles, struct{ target, mode string }{name, "signed"})
		}
		for _, p := range profiles {
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
	report := renderReport(b.res, o.baseline)
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
	switch t.kind {
	case "detectify-dedup", "detectify-notraces", "detectify-notelemetry",
		"detectify-storage", "detectify-storage-dedup", "detectify-redis":
		for _, c := range b.o.variantConns {
			out = append(out, scenario{"signed", c})
		}
		return out
	}
	for _, c := range b.o.conns {
		out = append(out, scenario{"signed", c})
	}
	if t.kind == "detectify" {
		for _, c := range b.o.floodConns {
			out = append(out, scenario{"forged", c}, scenario{"unsigned", c})
		}
	}
	return out
}

func (b *bench) runInstance(round int, t target) error {
	_, seen := waitQuiet(b.o.quietWait, b.logf)
	s, err := b.start(round, t, seen)
	if err != nil {
		return err
	}
	defer s.close()
	for _, sc := range b.scenariosOf(t) {
		if err := b.measureScenario(round, s, sc); err != nil {
			return err
		}
	}
	b.finish(s)
	return nil
}

// runAlternating is a round of -bursts: every target started at once, all
// on the server core (the idle ones use next to nothing), then -bursts
// cycles of one short run against each in turn. Each cycle counts as a
// round of the report, so each ratio compares runs seconds apart.
func (b *bench) runAlternating(round int) error {
	_, seen := waitQuiet(b.o.quietWait, b.logf)
	var all []*started
	defer func() {
		for _, s := range all {
			s.close()
		}
		b.exclude = nil
	}()
	for _, name := range b.o.targets {
		s, err := b.start(round, b.targets[name], seen)
		if err != nil {
			return err
		}
		all = append(all, s)
		b.exclude = append(b.exclude, s.cmd.Process.Pid)
		if s.aux != nil {
			b.exclude = append(b.exclude, s.aux.Process.Pid)
		}
	}
	for i := 1; i <= b.o.bursts; i++ {
		k := (i - 1) % len(all)
		for _, s := range append(slices.Clone(all[k:]), all[:k]...) {
			for _, sc := range b.scenariosOf(s.t) {
				if err := b.measureScenario((round-1)*b.o.bursts+i, s, sc); err != nil {
					return err
				}
			}
		}
		b.save()
	}
	for _, s := range all {
		b.finish(s)
	}
	return nil
}

// started is one running server.
type started struct {
	t             target
	cmd, aux      *exec.Cmd
	url           string
	telemetryPort int
	logFile       *os.File
	inst          instance
	undo          []func()
}

func (s *started) close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
}

// start starts t (and what it needs), waits for its first 200 and warms it up.
func (b *bench) start(round int, t target, seen string) (s *started, err error) {
	s = &started{t: t, inst: instance{Round: round, Target: t.name, Quiet: seen}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	addr, err := freeAddr()
	if err != nil {
		return s, err
	}
	if s.telemetryPort, err = freePort(); err != nil {
		return s, err
	}
	if s.logFile, err = os.Create(filepath.Join(b.logDir, fmt.Sprintf("r%d-%s.log", round, t.name))); err != nil {
		return s, err
	}
	s.undo = append(s.undo, func() { s.logFile.Close() })
	var extraEnv []string
	if t.prepare != nil {
		var cleanup func()
		if extraEnv, s.aux, cleanup, err = t.prepare(b); err != nil {
			return s, fmt.Errorf("%s: %w", t.name, err)
		}
		s.undo = append(s.undo, cleanup)
	}
	s.cmd = b.pinned(b.o.serverCPU, t.binary, t.args(addr)...)
	s.cmd.Env = append(append(os.Environ(), t.env(addr, s.telemetryPort)...), extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	b.logf("round %d: starting %s on %s", round, t.name, addr)
	if err := s.cmd.Start(); err != nil {
		return s, err
	}
	s.undo = append(s.undo, func() { stop(s.cmd) })

	s.url = "http://" + addr + t.path
	if err := waitReady(s.url, 60*time.Second); err != nil {
		return s, fmt.Errorf("%s did not answer 200 (log: %s): %w", t.name, s.logFile.Name(), err)
	}
	if n, err := preloadOf(t.env(addr, s.telemetryPort)); err != nil || n > 0 {
		began := time.Now()
		if err == nil {
			err = preload(s.url, n)
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", t.name, err)
		}
		b.logf("  %s: preloaded %d scans in %v", t.name, n, time.Since(began).Round(time.Millisecond))
	}
	if b.o.warmup > 0 {
		w, err := b.wrk(s.url, "signed", 8, b.o.warmup, s.logFile)
		if err != nil {
			return s, fmt.Errorf("warm-up: %w", err)
		}
		s.inst.WrkRequests += w.Requests
	}
	return s, nil
}

// measureScenario measures one scenario against a started server. A run
// that another process disturbed is measured again, after the machine went
// quiet, up to twice.
func (b *bench) measureScenario(round int, s *started, sc scenario) error {
	var r runResult
	for attempt := 1; ; attempt++ {
		var err error
		r, err = b.measure(round, s.t, s.cmd.Process.Pid, s.aux, s.url, sc, s.logFile)
		if err != nil {
			return err
		}
		s.inst.WrkRequests += r.Requests
		if r.OtherUtil <= noisyCores || attempt == 3 {
			break
		}
		b.logf("  %s %s c=%d: others used %.2f cores (%s); measuring again", s.t.name, sc.name, sc.conns, r.OtherUtil, r.OtherTop)
		waitQuiet(b.o.quietWait, b.logf)
	}
	b.res.Runs = append(b.res.Runs, r)
	b.logf("  %-16s %-8s c=%-3d %9.0f req/s  p50 %6.0fµs  p99 %7.0fµs  %6.1f µs CPU/req  server %.2f, wrk %.2f, %sothers %.2f cores",
		s.t.name, sc.name, sc.conns, r.RPS, r.P50us, r.P99us, r.CPUPerReqUs, r.ServerUtil, r.WrkUtil, auxNote(r), r.OtherUtil)
	return nil
}

// finish reads what the server counted itself and records its start.
func (b *bench) finish(s *started) {
	if s.t.metrics {
		s.inst.ServerCounted = scrapeCounts(s.telemetryPort)
	}
	b.res.Instances = append(b.res.Instances, s.inst)
}

// measure runs wrk once against the server pid, with the CPU accounting;
// aux, when not nil, is a process the server depends on (redis-server),
// whose CPU is accounted apart from the others'.
func (b *bench) measure(round int, t target, pid int, aux *exec.Cmd, url string, sc scenario, logFile io.Writer) (runResult, error) {
	r := runResult{Round: round, Target: t.name, Scenario: sc.name, Conns: sc.conns, Load: loadAverage()}
	time.Sleep(500 * time.Millisecond) // let the previous run's connections close
	exclude := append([]int{pid, os.Getpid()}, b.exclude...)
	var auxCPU0 time.Duration
	if aux != nil {
		exclude = append(exclude, aux.Process.Pid)
		r.AuxName = filepath.Base(aux.Path)
		if len(aux.Args) > 3 && filepath.Base(aux.Path) == "taskset" {
			r.AuxName = filepath.Base(aux.Args[3])
		}
		var err error
		if auxCPU0, _, err = procCPU(aux.Process.Pid); err != nil {
			return r, fmt.Errorf("%s gone: %w", r.AuxName, err)
		}
	}
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
	other, busiest := otherCPU(procs0, procs1, exclude...)
	if aux != nil {
		auxCPU1, _, err := procCPU(aux.Process.Pid)
		if err != nil {
			return r, fmt.Errorf("%s gone: %w", r.AuxName, err)
		}
		r.AuxUtil = (auxCPU1 - auxCPU0).Seconds() / elapsed.Seconds()
		if w.Requests > 0 {
			r.AuxCPUPerReqUs = (auxCPU1 - auxCPU0).Seconds() * 1e6 / float64(w.Requests)
		}
	}

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
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		m["redis-server"] = strings.TrimSpace(string(out))
	}
	for _, name := range []string{detectifyBinary, "otelcol-webhookevent"} {
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

	var extraEnv []string
	if t.prepare != nil {
		prepared, _, cleanup, err := t.prepare(b)
		if err != nil {
			return err
		}
		defer cleanup()
		extraEnv = prepared
	}
	var cmd *exec.Cmd
	if t.pprofBinary == "" {
		cmd = b.pinned(b.o.serverCPU, t.binary, append(t.args(addr), "-cpuprofile", prof)...)
	} else {
		if _, err := os.Stat(t.pprofBinary); err != nil {
			return err
		}
		pprofConfig := "pprof.yaml"
		if slices.Contains(t.args(addr), "--config="+filepath.Join(b.o.configs, "storage.yaml")) {
			pprofConfig = "pprof-storage.yaml" // the list of extensions is replaced, not merged
		}
		args := append(t.args(addr), "--config="+filepath.Join(b.o.configs, pprofConfig))
		cmd = b.pinned(b.o.serverCPU, t.pprofBinary, args...)
		cmd.Env = append(os.Environ(), t.env(addr, telemetryPort)...)
		cmd.Env = append(cmd.Env, "BENCH_PPROF_ENDPOINT="+pprofAddr)
		cmd.Env = append(cmd.Env, extraEnv...)
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
	if n, err := preloadOf(t.env(addr, telemetryPort)); err != nil || n > 0 {
		if err == nil {
			err = preload(url, n)
		}
		if err != nil {
			return err
		}
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
