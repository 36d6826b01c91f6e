// Command pprofgroup says where a CPU profile's time goes, by step of the
// webhook path: HMAC, JSON, log and metric pdata, the collector's own
// telemetry, HTTP plumbing, GC. It reads `go tool pprof -traces` and gives
// each sample to a group in two passes:
//
//  1. the steps: the first group, in the order below, that any frame of the
//     sample belongs to, so a malloc inside the JSON parser counts as JSON
//     and a pcommon call made while building metrics counts as metrics;
//
//  2. the wrappers (HTTP server, otelhttp, the handler itself), which are
//     ancestors of everything: the innermost frame that belongs to one.
//
//     pprofgroup [-bin program] profile.prof
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

type group struct {
	name    string
	pattern *regexp.Regexp
}

// steps are tried in order; the first one with a matching frame anywhere in
// the sample wins.
var steps = []group{
	// Collection itself, assists included (allocation costs stay in the step
	// that allocated).
	{"GC (assist and background)", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge|gcDrain|markroot|scanobject|gcStart|gcMarkDone|gcMarkTermination|sweepone)`)},
	// Reading requests from and writing answers to the socket: the same
	// for every server.
	{"syscalls (socket read/write)", regexp.MustCompile(`^internal/runtime/syscall|^syscall\.|^internal/poll\.`)},
	// The receiver's state: dedup key and claims, scan rules, counts (c5942a2:
	// keyOf and deliveries; since: internal/state), and the backends.
	{"state (dedup key and claims, scan rules, counts; storage, Redis)", regexp.MustCompile(`detectifyreceiver\.(keyOf|\(\*deliveries\))|detectifyreceiver/internal/state\.|filestorage|go\.etcd\.io/bbolt|redis/go-redis`)},
	{"HMAC (signature)", regexp.MustCompile(`detectifyreceiver\.(\(\*signatureVerifier\)|decodeSignature)|^crypto/`)},
	{"JSON (UTF-8 check, parse, classify)", regexp.MustCompile(`detectifyreceiver\.(parseWebhook|classify|decode[A-Z])|detectifyreceiver/internal/message\.|fastjson|^unicode/utf8\.Valid`)},
	// The collector's pipelines behind the receiver: fanout, the
	// per-component telemetry wrappers, the nop exporter.
	{"pipelines (fanout, obsconsumer, nop exporter)", regexp.MustCompile(`collector/service/internal|fanoutconsumer|nopexporter|exporterhelper|consumertest|obsconsumer|refconsumer|consumer\.Consume(Logs|Metrics)Func`)},
	{"metrics (state + pmetric building)", regexp.MustCompile(`detectifyreceiver\.\(\*(metricState|metricsRenderer)\)|detectifyreceiver\.\(\*detectifyReceiver\)\.emitMetrics|/pmetric\.|internal/metadata\.\(\*(MetricsBuilder|metric)`)},
	{"log record (plog building)", regexp.MustCompile(`detectifyreceiver\.(\(\*(logTranslator|recordTranslator)\)|event\.putAttributes|put[A-Z])|/plog\.`)},
	{"obsreport / receiver's own telemetry", regexp.MustCompile(`receiverhelper|detectifyreceiver\.outcomeCounter|obsreport`)},
	{"logging (zap)", regexp.MustCompile(`go\.uber\.org/zap`)},
}

// wrappers are matched innermost first: the first frame from the leaf that
// matches one of them (in this order) decides.
var wrappers = []group{
	{"handler, other", regexp.MustCompile(`detectifyreceiver\.\(\*detectifyReceiver\)\.(handleWebhook|processWebhook|emitRecord|refuse|deliver|consumeLogs|consumeMetrics)$`)},
	{"webhookeventreceiver handler (64 KiB scanner buffer, body read)", regexp.MustCompile(`webhookeventreceiver\.`)},
	// confighttp wraps every server handler in otelhttp: a span and the
	// http.server.* metrics per request.
	{"otelhttp (confighttp's per-request span and metrics)", regexp.MustCompile(`otelhttp|go\.opentelemetry\.io/otel/(sdk|metric|trace|semconv|attribute|propagation|baggage)`)},
	{"HTTP plumbing (net/http, confighttp, body, answer)", regexp.MustCompile(`^net/http|^net/textproto|^mime\.|^net\.|confighttp|httpsnoop|julienschmidt|detectifyreceiver\.(readBody|writeJSON|isJSONContentType|answer\.write|\(\*detectifyReceiver\)\.reject)|^main\.handle`)},
	{"benchmark harness", regexp.MustCompile(`detectifyreceiver\.(Benchmark|\(\*reusableRequest\)|\(\*discardWriter\))|^testing\.`)},
}

const otherGroup = "other (runtime, scheduler)"

func main() {
	bin := flag.String("bin", "", "the profiled program (for symbols, if the profile lacks them)")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: pprofgroup [-bin program] profile.prof")
	}
	args := []string{"tool", "pprof", "-traces"}
	if *bin != "" {
		args = append(args, *bin)
	}
	args = append(args, flag.Arg(0))
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		log.Fatalf("go tool pprof: %v", err)
	}
	samples, err := parseTraces(bytes.NewReader(out))
	if err != nil {
		log.Fatal(err)
	}
	report(os.Stdout, samples)
}

type sample struct {
	value  time.Duration
	frames []string // leaf first
}

// parseTraces reads pprof's -traces text: blocks separated by dashed
// lines, each "<value> <leaf>" then one caller per line.
func parseTraces(r io.Reader) ([]sample, error) {
	var samples []sample
	var cur *sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "-----------+"):
			cur = nil
		case cur == nil && strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "":
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			d, err := time.ParseDuration(fields[0])
			if err != nil {
				continue // a header line
			}
			samples = append(samples, sample{value: d, frames: []string{fields[1]}})
			cur = &samples[len(samples)-1]
		case cur != nil && strings.TrimSpace(line) != "":
			fields := strings.Fields(line)
			if !strings.HasSuffix(fields[0], ":") { // not a label line
				cur.frames = append(cur.frames, fields[0])
			}
		}
	}
	return samples, sc.Err()
}

func classify(s sample) string {
	for _, g := range steps {
		for _, f := range s.frames {
			if g.pattern.MatchString(f) {
				return g.name
			}
		}
	}
	for _, f := range s.frames {
		for _, g := range wrappers {
			if g.pattern.MatchString(f) {
				return g.name
			}
		}
	}
	return otherGroup
}

func report(w io.Writer, samples []sample) {
	var total time.Duration
	byGroup := map[string]time.Duration{}
	leaves := map[string]map[string]time.Duration{}
	for _, s := range samples {
		g := classify(s)
		total += s.value
		byGroup[g] += s.value
		if leaves[g] == nil {
			leaves[g] = map[string]time.Duration{}
		}
		leaves[g][s.frames[0]] += s.value
	}
	if total == 0 {
		fmt.Fprintln(w, "no samples")
		return
	}
	names := make([]string, 0, len(byGroup))
	for g := range byGroup {
		names = append(names, g)
	}
	slices.SortFunc(names, func(a, b string) int { return int(byGroup[b] - byGroup[a]) })
	fmt.Fprintf(w, "total %v of samples\n", total)
	fmt.Fprintf(w, "| group | share | top leaf functions (share of all samples) |\n| --- | ---: | --- |\n")
	for _, g := range names {
		type leaf struct {
			name string
			d    time.Duration
		}
		var ls []leaf
		for n, d := range leaves[g] {
			ls = append(ls, leaf{n, d})
		}
		slices.SortFunc(ls, func(a, b leaf) int { return int(b.d - a.d) })
		var tops []string
		for _, l := range ls[:min(3, len(ls))] {
			tops = append(tops, fmt.Sprintf("%s %.1f%%", shorten(l.name), pct(l.d, total)))
		}
		fmt.Fprintf(w, "| %s | %.1f%% | %s |\n", g, pct(byGroup[g], total), strings.Join(tops, ", "))
	}
}

func pct(d, total time.Duration) float64 { return 100 * float64(d) / float64(total) }

// shorten drops the module path of a function name.
func shorten(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}
