package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/souk/souk/tools/client"
)

func init() {
	commands["dlq"] = command{"list or redrive the dead letters of event consumers", runDLQ}
}

// dlqLetter is one item of GET /api/v1/admin/dlq.
type dlqLetter struct {
	Seq      uint64    `json:"seq"`
	Consumer string    `json:"consumer"`
	Subject  string    `json:"subject"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	Failed   time.Time `json:"failed"`
	Event    struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Source string `json:"source"`
		Key    string `json:"key"`
	} `json:"event"`
}

const dlqUsage = "usage: souk dlq list [--gateway URL] [--json] | souk dlq redrive [--gateway URL] (--seq N | --all)"

func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, dlqUsage)
		return usageError{"dlq: missing subcommand list or redrive"}
	}
	switch args[0] {
	case "list":
		return runDLQList(ctx, args[1:], getenv, stdout, stderr)
	case "redrive":
		return runDLQRedrive(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, dlqUsage)
		return nil
	}
	fmt.Fprintln(stderr, dlqUsage)
	return usageError{fmt.Sprintf("dlq: unknown subcommand %q", args[0])}
}

// dlqAdmin logs in as the admin of the environment.
func dlqAdmin(ctx context.Context, gateway string, getenv func(string) string) (*client.Client, error) {
	c := client.New(gateway)
	if err := c.LoginAdmin(ctx, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func runDLQList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dlq list", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	asJSON := fs.Bool("json", false, "print JSON")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := dlqAdmin(ctx, *gateway, getenv)
	if err != nil {
		return err
	}
	var list struct {
		Items []dlqLetter `json:"items"`
	}
	raw, err := c.Get(ctx, "/api/v1/admin/dlq", &list)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	if *asJSON {
		var pretty any
		if err := json.Unmarshal(raw, &pretty); err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(pretty)
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintln(stdout, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tCONSUMER\tSUBJECT\tEVENT\tKEY\tATTEMPTS\tFAILED\tERROR")
	for _, d := range list.Items {
		ev := d.Event.Type
		if d.Event.ID != "" {
			ev += " " + d.Event.ID
		}
		if ev == "" {
			ev = "(undecodable)"
		}
		failed := "-"
		if !d.Failed.IsZero() {
			failed = d.Failed.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Seq, d.Consumer, d.Subject, ev, dlqOrDash(d.Event.Key), d.Attempts, failed, dlqOneLine(d.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d dead letter(s); redrive with: souk dlq redrive --seq N | --all\n", len(list.Items))
	return err
}

func runDLQRedrive(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dlq redrive", stderr)
	gateway := fs.String("gateway", defaultGateway(getenv), "the gateway's URL")
	seq := fs.Uint64("seq", 0, "the sequence number of the dead letter to redrive (see souk dlq list)")
	all := fs.Bool("all", false, "redrive every dead letter")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if (*seq == 0) == !*all {
		fmt.Fprintln(stderr, dlqUsage)
		return usageError{"dlq redrive: give exactly one of --seq N (N ≥ 1) or --all"}
	}
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	c, err := dlqAdmin(ctx, *gateway, getenv)
	if err != nil {
		return err
	}
	body := map[string]uint64{}
	if *seq != 0 {
		body["seq"] = *seq
	}
	var out struct {
		Redriven int `json:"redriven"`
	}
	if _, err := c.JSON(ctx, http.MethodPost, "/api/v1/admin/dlq/redrive", body, &out); err != nil {
		return fmt.Errorf("redrive dead letters: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "redriven: %d\n", out.Redriven)
	return err
}

func dlqOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dlqOneLine keeps a table row on one line.
func dlqOneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
