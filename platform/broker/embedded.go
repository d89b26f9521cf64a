package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures an in-process NATS server.
type EmbeddedOptions struct {
	Dir        string // JetStream store directory; required
	Host       string // listen host; default 127.0.0.1
	Port       int    // 0 or -1 = a random free port
	SyncAlways bool   // strict durability: fsync every JetStream write
	Logger     *slog.Logger
}

// Embedded is a NATS server with JetStream running in this process.
type Embedded struct {
	srv *server.Server
	url string
}

// reservedPorts are the standard ports of servers that may already run on
// the machine (NATS, its monitor, PostgreSQL, RabbitMQ, Redis, MySQL,
// MQTT). The embedded server never listens on them.
var reservedPorts = map[int]bool{4222: true, 8222: true, 6222: true, 5432: true, 5672: true, 6379: true, 3306: true, 1883: true}

const (
	readyTimeout = 5 * time.Second
	portAttempts = 5
)

// StartEmbedded starts a NATS server with JetStream file storage in
// opts.Dir and waits until it accepts connections. It fails when Dir is
// empty, when a reserved port is asked for explicitly, or when the server is
// not ready within a few seconds.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.Dir == "" {
		return nil, errors.New("start embedded nats: no store directory")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		// nats-server reads 0 as its default port 4222; -1 asks for a random one.
		opts.Port = server.RANDOM_PORT
	}
	if reservedPorts[opts.Port] {
		return nil, fmt.Errorf("start embedded nats: port %d is reserved for a standard server", opts.Port)
	}
	var lastErr error
	for range portAttempts {
		e, err := startOnce(opts)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !errors.Is(err, errReservedPort) {
			break
		}
	}
	return nil, fmt.Errorf("start embedded nats: %w", lastErr)
}

var errReservedPort = errors.New("random port is a reserved port")

func startOnce(opts EmbeddedOptions) (*Embedded, error) {
	so := &server.Options{
		ServerName: "souk-embedded",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.Dir,
		SyncAlways: opts.SyncAlways,
		NoSigs:     true,
		NoLog:      opts.Logger == nil,
		// The monitoring, cluster, gateway, leaf node, websocket and MQTT
		// listeners stay off: their zero values disable them.
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(slogAdapter{opts.Logger}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("not ready after %s", readyTimeout)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("unexpected listen address %v", srv.Addr())
	}
	if reservedPorts[addr.Port] {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("%w: %d", errReservedPort, addr.Port)
	}
	url := "nats://" + net.JoinHostPort(opts.Host, strconv.Itoa(addr.Port))
	return &Embedded{srv: srv, url: url}, nil
}

// ClientURL returns the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.url }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// slogAdapter routes the server's warnings and errors to slog and drops its
// notices, debug and trace lines, which are many and rarely useful here.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Noticef(string, ...any) {}
func (a slogAdapter) Debugf(string, ...any)  {}
func (a slogAdapter) Tracef(string, ...any)  {}

func (a slogAdapter) Warnf(format string, v ...any) {
	a.log.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (a slogAdapter) Errorf(format string, v ...any) {
	a.log.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (a slogAdapter) Fatalf(format string, v ...any) {
	a.log.Error(fmt.Sprintf(format, v...), "component", "nats-server", "fatal", true)
}
