package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteText(t *testing.T) {
	d, exp := clean()
	// 25 orders still pending: the terminal line lists 20 and the rest.
	for i := range 25 {
		d.Orders = append(d.Orders, Order{OrderID: fmt.Sprintf("z%02d", i), Status: OrderPending})
	}
	charge(&d, "o1").Captures = 2
	rep := Check(d, exp)
	rep.Attempts = 4
	var buf bytes.Buffer
	if err := WriteText(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(out, "\n")
	byName := map[string]string{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 1 {
			byName[f[0]] = l
		}
	}
	for _, tt := range []struct{ check, want string }{
		{CheckTerminal, "FAIL"},
		{CheckTerminal, "29 orders"},
		{CheckTerminal, "25 still PENDING: z00, z01,"},
		{CheckTerminal, "z19 and 5 more"},
		{CheckCharged, "FAIL"},
		{CheckCharged, "2 confirmed orders"},
		{CheckCharged, "1 captured more than once: o1"},
		{CheckStock, "OK"},
		{CheckStock, "2 products"},
	} {
		if !strings.Contains(byName[tt.check], tt.want) {
			t.Errorf("line of %s = %q, want it to contain %q", tt.check, byName[tt.check], tt.want)
		}
	}
	if strings.Contains(byName[CheckTerminal], "z20") {
		t.Errorf("terminal line lists more than 20 ids: %q", byName[CheckTerminal])
	}
	for _, want := range []string{
		"orders: 29 total, 1 confirmed, 1 shipped, 2 cancelled, 25 pending\n",
		"expected: 4 accepted, 2 ambiguous\n",
		"lost: 0\nduplicates: 1\n",
		"verify: 2 of 9 checks FAILED: terminal, confirmed_charged (after 4 audit(s))\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	d, _ = clean()
	buf.Reset()
	if err := WriteText(&buf, Check(d, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "verify: all checks hold (after 1 audit(s))\n") || strings.Contains(buf.String(), "FAIL") || strings.Contains(buf.String(), "expected:") {
		t.Errorf("clean output:\n%s", buf.String())
	}
}

func TestWriteJSON(t *testing.T) {
	d, exp := clean()
	for i := range JSONViolations + 5 {
		d.Orders = append(d.Orders, Order{OrderID: fmt.Sprintf("z%05d", i), Status: OrderPending})
	}
	rep := Check(d, exp)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name           string   `json:"name"`
			OK             bool     `json:"ok"`
			Checked        int      `json:"checked"`
			Violations     []string `json:"violations"`
			ViolationCount int      `json:"violation_count"`
			Detail         string   `json:"detail"`
		} `json:"checks"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
	if got.OK || len(got.Checks) != 9 {
		t.Fatalf("ok %v with %d checks", got.OK, len(got.Checks))
	}
	term := got.Checks[0]
	if term.Name != CheckTerminal || term.OK || len(term.Violations) != JSONViolations || term.ViolationCount != JSONViolations+5 || term.Checked != len(d.Orders) {
		t.Errorf("terminal = %s ok %v, %d violations listed of %d, checked %d", term.Name, term.OK, len(term.Violations), term.ViolationCount, term.Checked)
	}
	if rep.Checks[0].ViolationCount != len(rep.Checks[0].Violations) {
		t.Error("WriteJSON changed the report it printed")
	}
	for _, c := range got.Checks[1:] {
		if !c.OK || c.Violations == nil || len(c.Violations) != 0 {
			t.Errorf("%s: ok %v, violations %#v (want an empty list)", c.Name, c.OK, c.Violations)
		}
	}
	want := map[string]int{"orders": 4 + JSONViolations + 5, "confirmed": 1, "shipped": 1, "cancelled": 2, "pending": JSONViolations + 5,
		"products": 2, "charges": 5, "reservations": 5, "confirmation_emails": 2, "tasks": 2, "lost": 0, "duplicates": 0, "accepted": 4, "ambiguous": 2}
	if diff := cmp.Diff(want, got.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
