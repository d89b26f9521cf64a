package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Limits of the ids a printed report lists per check.
const (
	TextViolations = 20
	JSONViolations = 1000
)

// WriteText prints one line per check — its name, OK or FAIL, what it
// looked at, and for a failure the reasons and the first TextViolations
// ids — then the summary.
func WriteText(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Checks {
		res := "OK"
		if !c.OK {
			res = "FAIL"
		}
		line := fmt.Sprintf("%s\t%s\t%d %s\t%s", c.Name, res, c.Checked, c.Unit, c.Detail)
		if !c.OK {
			line += ": " + listIDs(c.Violations, TextViolations)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := rep.Summary
	fmt.Fprintf(w, "\norders: %d total, %d confirmed, %d shipped, %d cancelled, %d pending\n", s.Orders, s.Confirmed, s.Shipped, s.Cancelled, s.Pending)
	fmt.Fprintf(w, "products: %d, charges: %d, reservations: %d, confirmation emails: %d, tasks: %d\n", s.Products, s.Charges, s.Reservations, s.Emails, s.Tasks)
	if s.Accepted > 0 || s.Ambiguous > 0 {
		fmt.Fprintf(w, "expected: %d accepted, %d ambiguous\n", s.Accepted, s.Ambiguous)
	}
	fmt.Fprintf(w, "lost: %d\nduplicates: %d\n", s.Lost, s.Duplicates)
	verdict := "all checks hold"
	if failed := rep.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		verdict = fmt.Sprintf("%d of %d checks FAILED: %s", len(failed), len(rep.Checks), strings.Join(names, ", "))
	}
	_, err := fmt.Fprintf(w, "verify: %s (after %d audit(s))\n", verdict, max(rep.Attempts, 1))
	return err
}

// listIDs joins up to n ids and says how many more there are.
func listIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:n], ", "), len(ids)-n)
}

// WriteJSON prints rep as one JSON object, each check's violations cut to
// JSONViolations ids (violation_count keeps the total).
func WriteJSON(w io.Writer, rep Report) error {
	out := rep
	out.Checks = make([]Result, len(rep.Checks))
	for i, c := range rep.Checks {
		if len(c.Violations) > JSONViolations {
			c.Violations = c.Violations[:JSONViolations]
		}
		out.Checks[i] = c
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
