// Package client is a small client of Souk's public API for the command
// line tools (status, load, verify, chaos, dlq) and the end-to-end tests:
// JSON in and out, problem+json errors as *APIError, and a bearer token.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/souk/souk/platform/fault"
)

// Default admin credentials, used when SOUK_ADMIN_EMAIL and
// SOUK_ADMIN_PASSWORD are unset; the auth service creates this account at
// first start.
const (
	DefaultAdminEmail    = "admin@souk.local"
	DefaultAdminPassword = "souk-admin-password"
)

// Client talks to one gateway.
type Client struct {
	base  string
	http  *http.Client
	token string
}

// New returns a client of the gateway at base ("http://127.0.0.1:8080").
func New(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// WithHTTP returns a copy of c using hc.
func (c *Client) WithHTTP(hc *http.Client) *Client {
	cp := *c
	cp.http = hc
	return &cp
}

// WithToken returns a copy of c that sends token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Token returns the bearer token c sends.
func (c *Client) Token() string { return c.token }

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Problem fault.Problem
	Body    string
}

func (e *APIError) Error() string {
	if e.Problem.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Problem.Code, e.Problem.Detail)
	}
	return fmt.Sprintf("%d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Response is a raw answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request with an optional JSON body and extra headers (name,
// value pairs) and returns the raw answer; err is only for transport
// failures.
func (c *Client) Do(ctx context.Context, method, path string, body any, headers ...string) (*Response, error) {
	var rd io.Reader
	if body != nil {
		if raw, ok := body.([]byte); ok {
			rd = bytes.NewReader(raw)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				return nil, err
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// JSON sends a request and decodes a 2xx answer into out (when non-nil);
// other answers are *APIError.
func (c *Client) JSON(ctx context.Context, method, path string, body, out any, headers ...string) (*Response, error) {
	resp, err := c.Do(ctx, method, path, body, headers...)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		e := &APIError{Status: resp.Status, Body: string(resp.Body)}
		_ = json.Unmarshal(resp.Body, &e.Problem)
		return resp, e
	}
	if out != nil && len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp, nil
}

// Get is JSON for GET, returning the raw body too.
func (c *Client) Get(ctx context.Context, path string, out any) ([]byte, error) {
	resp, err := c.JSON(ctx, http.MethodGet, path, nil, out)
	if resp == nil {
		return nil, err
	}
	return resp.Body, err
}

// Token is the answer of a login.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// Login logs in and returns a client carrying the token.
func (c *Client) Login(ctx context.Context, email, password string) (*Client, error) {
	var tok Token
	if _, err := c.JSON(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &tok); err != nil {
		return nil, fmt.Errorf("log in as %s: %w", email, err)
	}
	return c.WithToken(tok.AccessToken), nil
}

// AdminCredentials returns the admin account from the environment, or the
// defaults.
func AdminCredentials(getenv func(string) string) (email, password string) {
	email, password = getenv("SOUK_ADMIN_EMAIL"), getenv("SOUK_ADMIN_PASSWORD")
	if email == "" {
		email = DefaultAdminEmail
	}
	if password == "" {
		password = DefaultAdminPassword
	}
	return email, password
}

// LoginAdmin logs c in as the admin of the environment.
//
// With SOUK_TOKEN set it sends that admin access token instead and does not
// log in: a script that runs the CLI in a loop (souk status every second)
// would otherwise spend the admin account's login budget at the gateway
// (five a minute by default).
func (c *Client) LoginAdmin(ctx context.Context, getenv func(string) string) error {
	if tok := strings.TrimSpace(getenv("SOUK_TOKEN")); tok != "" {
		c.token = strings.TrimPrefix(tok, "Bearer ")
		return nil
	}
	email, password := AdminCredentials(getenv)
	admin, err := c.Login(ctx, email, password)
	if err != nil {
		return fmt.Errorf("%w (set SOUK_ADMIN_EMAIL and SOUK_ADMIN_PASSWORD to the admin account)", err)
	}
	c.token = admin.token
	return nil
}
