package auth

import (
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
		ok   bool
	}{
		{"defaults", nil, func(*Config) {}, true},
		{"all set", map[string]string{
			"SOUK_AUTH_TOKEN_TTL": "1h", "SOUK_AUTH_KEY_PUBLISH_DELAY": "0s", "SOUK_AUTH_ARGON2": "m=65536,t=3,p=4",
		}, func(c *Config) {
			c.TokenTTL, c.PublishDelay, c.Argon2 = time.Hour, 0, Argon2Params{Memory: 65536, Time: 3, Threads: 4}
		}, true},
		{"ttl not a duration", map[string]string{"SOUK_AUTH_TOKEN_TTL": "15"}, nil, false},
		{"ttl too short", map[string]string{"SOUK_AUTH_TOKEN_TTL": "10s"}, nil, false},
		{"negative delay", map[string]string{"SOUK_AUTH_KEY_PUBLISH_DELAY": "-1s"}, nil, false},
		{"bad argon2", map[string]string{"SOUK_AUTH_ARGON2": "m=1,t=1,p=1"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromEnv(func(k string) string { return tt.env[k] })
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			want := DefaultConfig()
			tt.want(&want)
			if got != want {
				t.Errorf("config = %+v, want %+v", got, want)
			}
		})
	}
	if d := DefaultConfig(); d.TokenTTL != 15*time.Minute || d.PublishDelay != 2*time.Second || d.Argon2.String() != "m=19456,t=2,p=1" {
		t.Errorf("defaults = %+v, want those of the package doc", d)
	}
}
