package load

import (
	"fmt"
	"strconv"
	"strings"
)

// Journey indices; Journeys holds their names.
const (
	journeySignup = iota
	journeyLogin
	journeyBrowse
	journeySearch
	journeyProduct
	journeyOrder
	journeyMyOrders
	numJourneys
)

// Journeys are the names a mix may weight, in a fixed order.
var Journeys = [numJourneys]string{"signup", "login", "browse", "search", "product", "order", "my_orders"}

// Step indices; Steps holds their names. A step is one HTTP request.
const (
	stepSignup = iota
	stepLogin
	stepBrowse
	stepBrowseNext
	stepSearch
	stepProduct
	stepOrder
	stepMyOrders
	stepMyOrder
	numSteps
)

// Steps are the names of the measured steps, in report order.
var Steps = [numSteps]string{"signup", "login", "browse", "browse_next", "search", "product", "order", "my_orders", "my_order"}

// firstStep is the step a journey starts with: an arrival dropped before
// being sent counts against it.
var firstStep = [numJourneys]int{stepSignup, stepLogin, stepBrowse, stepSearch, stepProduct, stepOrder, stepMyOrders}

// Mix is the weight of each journey; arrivals pick a journey with
// probability weight/total.
type Mix struct {
	weights [numJourneys]int
	cum     [numJourneys]uint64
	total   uint64
}

// DefaultMix is the mix when none is given: mostly reads, some orders, and
// few signups and logins because password hashing is deliberately slow.
const DefaultMix = "browse=30,product=30,search=15,order=15,login=5,signup=5"

// ParseMix reads "browse=60,order=30,...": journey names from Journeys with
// non-negative integer weights, each named at most once, summing to more
// than 0. Journeys not named get weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := [numJourneys]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: want name=weight", part)
		}
		j := journeyIndex(strings.TrimSpace(name))
		if j < 0 {
			return Mix{}, fmt.Errorf("mix: unknown journey %q (want %s)", name, strings.Join(Journeys[:], ", "))
		}
		if seen[j] {
			return Mix{}, fmt.Errorf("mix: journey %q named twice", name)
		}
		seen[j] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 || w > 1_000_000 {
			return Mix{}, fmt.Errorf("mix: weight of %s %q: want an integer from 0 to 1000000", name, val)
		}
		m.weights[j] = w
	}
	var sum uint64
	for j, w := range m.weights {
		sum += uint64(w)
		m.cum[j] = sum
	}
	if sum == 0 {
		return Mix{}, fmt.Errorf("mix %q: the weights sum to 0", s)
	}
	m.total = sum
	return m, nil
}

func journeyIndex(name string) int {
	for i, n := range Journeys {
		if n == name {
			return i
		}
	}
	return -1
}

// Weight returns the weight of the named journey (0 when unknown).
func (m Mix) Weight(name string) int {
	if j := journeyIndex(name); j >= 0 {
		return m.weights[j]
	}
	return 0
}

// Pick maps a uniform random number to a journey index.
func (m Mix) Pick(r uint64) int {
	// The modulo bias is below total/2^64: negligible.
	x := r % m.total
	for j := range m.cum {
		if x < m.cum[j] {
			return j
		}
	}
	return numJourneys - 1
}

// String writes the mix back as name=weight pairs, non-zero weights only.
func (m Mix) String() string {
	var parts []string
	for j, w := range m.weights {
		if w > 0 {
			parts = append(parts, Journeys[j]+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

// Map returns the non-zero weights by journey name.
func (m Mix) Map() map[string]int {
	out := map[string]int{}
	for j, w := range m.weights {
		if w > 0 {
			out[Journeys[j]] = w
		}
	}
	return out
}
