package load

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMyOrdersJourney logs in existing accounts (no signups), lists each
// journey's user's orders and opens one of that user's own: a user without
// orders lists only.
func TestMyOrdersJourney(t *testing.T) {
	g := &fakeGateway{ordersOf: func(email string) int {
		if email == "seed-3@example.com" {
			return 0
		}
		return 3
	}}
	url := startFake(t, g)
	accounts := []Account{{"seed-1@example.com", "pw-1"}, {"seed-2@example.com", "pw-1"}, {"seed-3@example.com", "pw-1"}}
	rep, err := Run(context.Background(), Config{Gateway: url, Rate: 60, Duration: time.Second, Mix: mustMix(t, "my_orders=100"), Accounts: accounts})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.signups.Load(); got != 0 {
		t.Errorf("signups: got %d, want 0 (accounts only)", got)
	}
	if got := g.logins.Load(); got != 3 {
		t.Errorf("logins: got %d, want 3 (one per account)", got)
	}
	if rep.Users != 3 {
		t.Errorf("users in pool: got %d, want 3", rep.Users)
	}
	lists, gets := rep.Steps["my_orders"], rep.Steps["my_order"]
	if lists.Requests != 60 || lists.Errors != 0 || gets.Errors != 0 || rep.Errors != 0 {
		t.Fatalf("got my_orders %+v, my_order %+v, errors %v; want 60 lists and no error", lists, gets, rep.ErrorsBy)
	}
	// Each list of a user with orders is followed by a get of one of its
	// own (the fake answers 404 for another's); seed-3's are not.
	if gets.Requests != g.gets.Load() || gets.Requests < 20 || gets.Requests > 59 {
		t.Errorf("my_order requests: got %d (fake saw %d), want one per list of a user with orders, between 20 and 59", gets.Requests, g.gets.Load())
	}
	if lists.Latency.P50 <= 0 || gets.Latency.P50 <= 0 {
		t.Errorf("latencies not recorded: %+v %+v", lists.Latency, gets.Latency)
	}
}

func TestAccountsValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" when valid
	}{
		{"my_orders with accounts", Config{Mix: mustMix(t, "my_orders=1"), Accounts: []Account{{"a@example.com", "pw"}}}, ""},
		{"my_orders with users", Config{Mix: mustMix(t, "my_orders=1"), Users: 1}, ""},
		{"my_orders without users", Config{Mix: mustMix(t, "my_orders=1")}, "need users"},
		{"order with accounts only", Config{Mix: mustMix(t, "order=1"), Accounts: []Account{{"a@example.com", "pw"}}}, ""},
		{"account without password", Config{Mix: mustMix(t, "browse=1"), Accounts: []Account{{"a@example.com", ""}}}, "email and a password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Gateway, tt.cfg.Rate, tt.cfg.Duration = "http://127.0.0.1:1", 1, time.Second
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestJSONStrings(t *testing.T) {
	body := `{"items":[{"id":"a","customer_id":"c","items":[{"product_id":"p"}]},{"id":"b","name":"say \"id\": \"x\""}],"next_cursor":""}`
	var got []string
	for _, v := range jsonStrings([]byte(body), `"id"`) {
		got = append(got, string(v))
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("jsonStrings: got %q, want [a b]", got)
	}
	if got := jsonStrings([]byte(`{"items":[]}`), `"id"`); len(got) != 0 {
		t.Errorf("jsonStrings of an empty page: got %q", got)
	}
}
