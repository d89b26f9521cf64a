package sampledata

import (
	"strings"
	"testing"
)

func TestProducts(t *testing.T) {
	if got := len(Products); got < 25 {
		t.Fatalf("len(Products) = %d, want about 30", got)
	}
	seen := map[string]bool{}
	for i, p := range Products {
		if p.ID == "" || seen[p.ID] {
			t.Errorf("product %d: id %q is empty or repeated", i, p.ID)
		}
		seen[p.ID] = true
		if i > 0 && Products[i-1].ID >= p.ID {
			t.Errorf("product %s: not in id order after %s", p.ID, Products[i-1].ID)
		}
		if strings.TrimSpace(p.Name) == "" || strings.TrimSpace(p.Description) == "" {
			t.Errorf("product %s: empty name or description", p.ID)
		}
		if p.PriceCents <= 0 {
			t.Errorf("product %s: price %d, want positive", p.ID, p.PriceCents)
		}
		if p.Currency != "USD" {
			t.Errorf("product %s: currency %q, want USD", p.ID, p.Currency)
		}
		if p.InitialStock < 0 {
			t.Errorf("product %s: initial stock %d, want at least 0", p.ID, p.InitialStock)
		}
	}
}

// The article's example is part of the public contract (API.md).
func TestArticleExample(t *testing.T) {
	for _, p := range Products {
		if p.ID != "4521" {
			continue
		}
		if p.PriceCents != 4999 || p.Currency != "USD" || p.InitialStock != 12 {
			t.Errorf("4521 = %d %s, %d in stock; want 4999 USD, 12 in stock", p.PriceCents, p.Currency, p.InitialStock)
		}
		return
	}
	t.Error("product 4521 is missing")
}
