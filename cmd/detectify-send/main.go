// Command detectify-send posts Detectify webhook messages to a receiver,
// signed the way Detectify signs them, and reports how the receiver
// answered. Run it with -h for the flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// Exit codes.
const (
	exitOK     = 0 // every message delivered
	exitFailed = 1 // a message failed or the run was interrupted
	exitUsage  = 2 // bad flags or input
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole command, minus the process: it reads the environment
// only through getenv so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts, err := parseOptions(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, helpText)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, err)
	}
	src, err := opts.load()
	if err != nil {
		return usageError(stderr, err)
	}
	cfg := opts.config(src.messages)
	if err := cfg.Validate(); err != nil {
		return usageError(stderr, err)
	}
	total := cfg.Count
	if total == 0 {
		total = len(src.messages)
	}
	if opts.apiFake != "" {
		api, err := startFakeAPI(opts, src.scans)
		if err != nil {
			return usageError(stderr, err)
		}
		// Printed even with -quiet: with port 0 it is the only way to
		// learn where the API is.
		fmt.Fprintln(stderr, api.describe(opts, src.scans))
		defer api.stop(stderr, opts.quiet)
	}
	if !opts.quiet {
		fmt.Fprintf(stderr, "detectify-send: sending %d messages (%s) to %s, %s\n",
			total, src.description, opts.redactedURL(), opts.signing())
	}

	// The config is valid, so Run fails only when interrupted.
	sum, err := webhooksend.Run(ctx, cfg)
	if !opts.quiet {
		_ = sum.Print(stdout)
	}
	code := exitOK
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "detectify-send: interrupted after %d of %d messages\n", sum.Sent, total)
		return exitFailed
	case !sum.OK():
		fmt.Fprintf(stderr, "detectify-send: %d of %d messages failed\n", sum.Failed, sum.Sent)
		code = exitFailed
	}
	if opts.apiFake != "" {
		// A receiver backfills once a scan has finished: keep serving.
		if !opts.quiet {
			fmt.Fprintf(stderr, "detectify-send: the fake API serves %s\n", opts.lingerText())
		}
		linger(ctx, opts.apiLinger)
	}
	return code
}

func usageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "detectify-send: %v\nRun 'detectify-send -h' for help.\n", err)
	return exitUsage
}
