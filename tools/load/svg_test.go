package load

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSVGIsValidXML(t *testing.T) {
	tests := []struct {
		name      string
		seconds   []Second
		polylines int
	}{
		{"empty run", nil, 0},
		{"one second", []Second{{T: 0, Completed: 10, P50: 1, P99: 2, Max: 3}}, 3},
		{"a stall and an outlier", []Second{
			{T: 0, Completed: 200, P50: 1.2, P99: 4, Max: 9},
			{T: 1, Completed: 150, Errors: 20, P50: 80, P99: 300, Max: 10000},
			{T: 2, Completed: 260, P50: 1.1, P99: 3.5, Max: 6},
		}, 3},
	}
	for _, tt := range tests {
		rep := &Report{Rate: 200, DurationS: float64(len(tt.seconds)), Requests: 610, Errors: 20, Seconds: tt.seconds,
			Latency: Latency{P99: 250}}
		var buf bytes.Buffer
		if err := WriteSVG(&buf, rep); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		dec := xml.NewDecoder(&buf)
		var root string
		counts := map[string]int{}
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not XML: %v", tt.name, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Local
					if se.Name.Space != "http://www.w3.org/2000/svg" {
						t.Errorf("%s: root namespace %q", tt.name, se.Name.Space)
					}
				}
				counts[se.Name.Local]++
				if se.Name.Local == "polyline" {
					for _, a := range se.Attr {
						if a.Name.Local == "points" && len(strings.Fields(a.Value)) != len(tt.seconds) {
							t.Errorf("%s: polyline with %d points, want %d", tt.name, len(strings.Fields(a.Value)), len(tt.seconds))
						}
					}
				}
			}
		}
		if root != "svg" || counts["polyline"] != tt.polylines || counts["text"] < 8 || counts["line"] < 4 {
			t.Errorf("%s: root %q, elements %v; want svg with %d polylines, axes and labels", tt.name, root, counts, tt.polylines)
		}
		if len(tt.seconds) > 0 && counts["rect"] < 1+2*len(tt.seconds) {
			t.Errorf("%s: %d rects, want a throughput bar per second", tt.name, counts["rect"])
		}
	}
}
