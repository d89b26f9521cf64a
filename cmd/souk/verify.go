package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/souk/souk/tools/client"
	"github.com/souk/souk/tools/verify"
)

func init() {
	commands["verify"] = command{"audit the invariants across services (exit 1 on a violation)", runVerify}
}

func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	asJSON := fs.Bool("json", false, "print one JSON object")
	wait := fs.Duration("wait", 30*time.Second, "how long to keep auditing while orders are PENDING or events are in flight")
	interval := fs.Duration("interval", verify.DefaultInterval, "the pause between two audits while waiting")
	expect := fs.String("expect", "", "a file of `souk load --orders-out` lines: check that every accepted order exists")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *wait < 0 || *interval < 0 {
		return usageError{"--wait and --interval must not be negative"}
	}
	opts := verify.Options{Wait: *wait, Interval: *interval}
	if *expect != "" {
		exp, err := verify.ReadExpectations(*expect)
		if err != nil {
			return usageError{fmt.Sprintf("--expect: %v", err)}
		}
		opts.Expect = exp
	}
	opts.Progress = func(attempt int, rep verify.Report, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "verify: audit %d could not complete (%v); retrying\n", attempt, err)
			return
		}
		failed := rep.Failed()
		fmt.Fprintf(stderr, "verify: audit %d: %d check(s) failing, %d order(s) pending; retrying\n", attempt, len(failed), rep.Summary.Pending)
	}

	loginCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c := client.New(*gateway)
	err := c.LoginAdmin(loginCtx, getenv)
	cancel()
	if err != nil {
		return fmt.Errorf("could not audit: %w", err)
	}
	rep, err := verify.Run(ctx, verify.NewGateway(c, verify.MaxPageSize), opts)
	if err != nil {
		return fmt.Errorf("could not audit: %w", err)
	}
	if *asJSON {
		err = verify.WriteJSON(stdout, rep)
	} else {
		err = verify.WriteText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return exitError{1, fmt.Sprintf("verify: %d of %d checks failed", len(failed), len(rep.Checks))}
	}
	return nil
}
