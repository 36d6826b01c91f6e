package main

import (
	"cmp"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

const (
	defaultURL = "http://localhost:8765/webhook"
	secretEnv  = "DETECTIFY_WEBHOOK_SECRET"

	apiKeyEnv    = "DETECTIFY_API_KEY"
	apiSecretEnv = "DETECTIFY_API_SECRET"
	// demoAPIKey is the fake API's key when none is given, so a local
	// demo needs no setup; help and the quick start name it.
	demoAPIKey = "detectify-send-demo-key"
)

// options are the parsed command line.
type options struct {
	url      string
	secret   string
	encoding string
	unsigned bool
	insecure bool

	format     string
	seed       bool
	scenario   bool
	domains    string
	findings   int
	titles     int
	unfinished int
	unique     int
	file       string
	randomSeed uint64

	count       int
	rate        float64
	concurrency int
	retries     int
	maxBackoff  time.Duration
	timeout     time.Duration
	gzip        bool
	quiet       bool

	apiFake   string
	apiKey    string
	apiSecret string
	apiLinger time.Duration

	set map[string]bool // flags given explicitly
}

// parseOptions parses and checks args. It returns flag.ErrHelp for -h.
func parseOptions(args []string, getenv func(string) string) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.secret == "" {
		o.secret = getenv(secretEnv)
	}
	if o.apiKey == "" {
		o.apiKey = cmp.Or(getenv(apiKeyEnv), demoAPIKey)
	}
	if o.apiSecret == "" {
		o.apiSecret = getenv(apiSecretEnv)
	}
	return o, o.check()
}

// newFlagSet binds the flags to o. Usage strings are empty because
// helpText documents the flags.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("detectify-send", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors and help itself
	fs.Usage = func() {}

	fs.StringVar(&o.url, "url", defaultURL, "")
	// The secret's default stays empty; filling it from the environment
	// after parsing keeps it out of anything flag might print.
	fs.StringVar(&o.secret, "secret", "", "")
	fs.StringVar(&o.encoding, "encoding", webhooksend.EncodingHex, "")
	fs.BoolVar(&o.unsigned, "unsigned", false, "")
	fs.BoolVar(&o.insecure, "insecure", false, "")

	fs.StringVar(&o.format, "format", string(webhooksend.FormatClassic), "")
	fs.BoolVar(&o.seed, "seed", false, "")
	fs.BoolVar(&o.scenario, "scenario", false, "")
	fs.StringVar(&o.domains, "domains", strconv.Itoa(webhooksend.DefaultDomainCount), "")
	fs.IntVar(&o.findings, "findings", 5, "")
	fs.IntVar(&o.titles, "titles", webhooksend.DefaultTitles, "")
	fs.IntVar(&o.unfinished, "unfinished", 0, "")
	fs.IntVar(&o.unique, "unique", 0, "")
	fs.StringVar(&o.file, "file", "", "")
	fs.Uint64Var(&o.randomSeed, "random-seed", 0, "")

	fs.IntVar(&o.count, "count", 0, "")
	fs.Float64Var(&o.rate, "rate", 0, "")
	fs.IntVar(&o.concurrency, "concurrency", 1, "")
	fs.IntVar(&o.retries, "retries", 3, "")
	fs.DurationVar(&o.maxBackoff, "max-backoff", webhooksend.DefaultMaxBackoff, "")
	fs.DurationVar(&o.timeout, "timeout", webhooksend.DefaultTimeout, "")
	fs.BoolVar(&o.gzip, "gzip", false, "")
	fs.BoolVar(&o.quiet, "quiet", false, "")

	// The API key and secret, like the webhook secret, default from the
	// environment after parsing.
	fs.StringVar(&o.apiFake, "api-fake", "", "")
	fs.StringVar(&o.apiKey, "api-key", "", "")
	fs.StringVar(&o.apiSecret, "api-secret", "", "")
	fs.DurationVar(&o.apiLinger, "api-linger", 0, "")
	return fs
}

// check rejects flag combinations that would be ignored or meaningless;
// Config.Validate covers the rest once the messages are loaded.
func (o *options) check() error {
	sources := 0
	for _, chosen := range []bool{o.seed, o.scenario, o.set["unique"], o.set["file"]} {
		if chosen {
			sources++
		}
	}
	switch {
	case sources > 1:
		return errors.New("choose one of -seed, -scenario, -unique and -file")
	case (o.set["domains"] || o.set["findings"] || o.set["titles"] || o.set["unfinished"]) && !o.scenario:
		return errors.New("-domains, -findings, -titles and -unfinished need -scenario")
	case o.set["random-seed"] && !o.scenario && !o.set["unique"]:
		return errors.New("-random-seed needs -scenario or -unique")
	case o.set["format"] && o.set["file"]:
		return errors.New("-format does not apply to -file, which is sent as written")
	case o.findings < 0:
		return errors.New("-findings must not be negative")
	case o.titles < 1 || o.titles > webhooksend.MaxTitles:
		return fmt.Errorf("-titles must be 1 to %d", webhooksend.MaxTitles)
	case o.unfinished < 0:
		return errors.New("-unfinished must not be negative")
	case o.set["unique"] && o.unique < 1:
		return errors.New("-unique must be at least 1")
	case o.set["file"] && o.file == "":
		return errors.New("-file needs a path")
	case o.concurrency < 1:
		return errors.New("-concurrency must be at least 1")
	case math.IsInf(o.rate, 0) || !(o.rate >= 0):
		return errors.New("-rate must be a non-negative number")
	case o.timeout <= 0 || o.maxBackoff <= 0:
		return errors.New("-timeout and -max-backoff must be positive")
	case !o.unsigned && o.secret == "":
		return fmt.Errorf("no secret: pass -secret, set %s, or use -unsigned", secretEnv)
	case (o.set["api-key"] || o.set["api-secret"] || o.set["api-linger"]) && !o.set["api-fake"]:
		return errors.New("-api-key, -api-secret and -api-linger need -api-fake")
	case o.set["api-fake"] && !o.scenario:
		return errors.New("-api-fake needs -scenario, whose scans it serves")
	case o.set["api-fake"] && o.apiFake == "":
		return errors.New("-api-fake needs an address, e.g. 127.0.0.1:8766")
	case o.apiLinger < 0:
		return errors.New("-api-linger must not be negative")
	}
	if o.set["api-fake"] {
		if _, err := base64.StdEncoding.DecodeString(o.apiSecret); err != nil {
			return fmt.Errorf("-api-secret (or %s) must be standard base64, as Detectify hands it out", apiSecretEnv)
		}
	}
	if _, err := webhooksend.ParseFormat(o.format); err != nil {
		return fmt.Errorf("-format: %w", err)
	}
	if o.scenario {
		count, names, err := parseDomains(o.domains)
		if err != nil {
			return err
		}
		if names != nil {
			count = len(names)
		}
		if o.unfinished > count {
			return fmt.Errorf("-unfinished %d is more than the %d scanned domains", o.unfinished, count)
		}
	}
	return nil
}

// source is the chosen set of messages and how to describe it.
type source struct {
	messages    [][]byte
	description string
	scans       []webhooksend.ScanSummary // -scenario only
}

func (o *options) load() (source, error) {
	seed := o.randomSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	format, err := webhooksend.ParseFormat(o.format)
	if err != nil {
		return source{}, err
	}
	switch {
	case o.scenario:
		count, names, err := parseDomains(o.domains)
		if err != nil {
			return source{}, err
		}
		opts := webhooksend.ScenarioOptions{
			Format: format, Domains: names, DomainCount: count, FindingsPerScan: o.findings,
			Titles: o.titles, Unfinished: o.unfinished, Seed: seed,
		}
		msgs, scans := webhooksend.Scenario(opts)
		return source{msgs, describeScenario(opts, scans), scans}, nil
	case o.set["unique"]:
		msgs := webhooksend.UniqueFindingsIn(format, o.unique, seed)
		return source{messages: msgs, description: fmt.Sprintf("%d unique %s findings, -random-seed %d", o.unique, format, seed)}, nil
	case o.set["file"]:
		msgs, err := webhooksend.LoadFile(o.file)
		if err != nil {
			return source{}, err
		}
		return source{messages: msgs, description: fmt.Sprintf("%d messages from %s", len(msgs), o.file)}, nil
	default:
		return source{messages: webhooksend.SeedMessagesIn(format), description: fmt.Sprintf("the %s example messages", format)}, nil
	}
}

// parseDomains reads -domains: a count, or comma-separated names.
func parseDomains(s string) (int, []string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return 0, nil, errors.New("-domains must be at least 1")
		}
		return n, nil, nil
	}
	var names []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return 0, nil, fmt.Errorf("-domains %q has an empty name", s)
		}
		names = append(names, name)
	}
	return 0, names, nil
}

func (o *options) config(msgs [][]byte) webhooksend.Config {
	return webhooksend.Config{
		URL:         o.url,
		Messages:    msgs,
		Secret:      []byte(o.secret),
		Encoding:    o.encoding,
		Unsigned:    o.unsigned,
		Count:       o.count,
		Rate:        o.rate,
		Concurrency: o.concurrency,
		Retries:     o.retries,
		Timeout:     o.timeout,
		MaxBackoff:  o.maxBackoff,
		Gzip:        o.gzip,
		Insecure:    o.insecure,
	}
}

// redactedURL hides any password in the URL before it is printed.
func (o *options) redactedURL() string {
	u, err := url.Parse(o.url)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

func (o *options) signing() string {
	if o.unsigned {
		return "unsigned"
	}
	return "signed (" + o.encoding + ")"
}

func (o *options) lingerText() string {
	if o.apiLinger > 0 {
		return "for " + o.apiLinger.String()
	}
	return "until interrupted (Ctrl-C)"
}
