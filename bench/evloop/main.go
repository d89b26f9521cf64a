// Command evloop is an experiment, not a part of Souk: the smallest HTTP/1.1
// pass-through proxy built the way nginx is, one event loop per core on
// level-triggered epoll, so that bench/gateway.sh can measure what the
// I/O model alone is worth next to the gateway's goroutine per connection
// (docs/benchmarks.md, "Gateway pass-through against nginx", seventh round).
//
// Each loop owns a listening socket (SO_REUSEPORT on the same port) and
// every connection it accepts; each client connection is paired with one
// kept-alive upstream connection opened by the same loop, so a request is
// read, forwarded, answered and logged without leaving the loop's thread:
// no goroutine switch and no read that finds nothing (a socket is read
// once per readiness event). After handling events a loop looks once more
// without sleeping before it waits (-spin, as gnet does): the answer to
// what it just forwarded is often there already. It does what bench/gateway.sh's nginx does
// per request: adds X-Request-Id and X-Forwarded-For upstream, the
// security headers downstream, and writes a JSON access-log line into a
// 64 KiB buffer. It handles requests without a body and responses with a
// Content-Length only, and drops a connection on anything else: enough
// for the benchmark's GET, nothing more.
//
//	go run ./bench/evloop -listen 127.0.0.1:8080 -upstream 127.0.0.1:9090 -log /tmp/evloop.log
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	maxHead    = 16 << 10
	logBufSize = 64 << 10
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve")
	upstream := flag.String("upstream", "", "upstream address (ip:port)")
	logPath := flag.String("log", os.DevNull, "access log file")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops (one thread each)")
	spin := flag.Bool("spin", true, "after handling events, poll again without sleeping before waiting (as gnet does)")
	flag.Parse()
	if err := run(*listen, *upstream, *logPath, *loops, *spin); err != nil {
		log.Fatal("evloop: ", err)
	}
}

func run(listen, upstream, logPath string, loops int, spin bool) error {
	la, err := netip.ParseAddrPort(listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	ua, err := netip.ParseAddrPort(upstream)
	if err != nil {
		return fmt.Errorf("-upstream: %w", err)
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	var port int
	for i := range max(loops, 1) {
		if i > 0 {
			la = netip.AddrPortFrom(la.Addr(), uint16(port))
		}
		l, err := newLoop(la, ua, lf)
		if err != nil {
			return err
		}
		l.spin = spin
		if i == 0 {
			sa, _ := syscall.Getsockname(l.lfd)
			port = sa.(*syscall.SockaddrInet4).Port
			fmt.Printf("evloop listening on %s:%d\n", la.Addr(), port)
		}
		go l.run()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return nil
}

type conn struct {
	fd, peer int    // peer: the paired connection's fd
	client   bool   // a client connection (else an upstream one)
	in       []byte // bytes read, not yet handled
	out      []byte // bytes to write when the socket takes them
	waitOut  bool   // registered for EPOLLOUT
	ip       string
	start    time.Time
	method   string
	path     string
}

type loop struct {
	ep, lfd  int
	upstream syscall.SockaddrInet4
	conns    map[int]*conn
	buf      []byte
	logBuf   []byte
	logFile  *os.File
	lastLog  time.Time
	closed   atomic.Bool
	spin     bool // poll once more without sleeping after work
}

var reqSeq atomic.Uint64

func newLoop(la, ua netip.AddrPort, lf *os.File) (*loop, error) {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_ = syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1); err != nil {
		return nil, err
	}
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Port: int(la.Port()), Addr: la.Addr().As4()}); err != nil {
		return nil, err
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		return nil, err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return nil, err
	}
	return &loop{ep: ep, lfd: lfd, upstream: syscall.SockaddrInet4{Port: int(ua.Port()), Addr: ua.Addr().As4()},
		conns: map[int]*conn{}, buf: make([]byte, 64<<10), logFile: lf}, nil
}

func (l *loop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 256)
	wait := 100
	for {
		n, err := syscall.EpollWait(l.ep, events, wait)
		if l.closed.Load() {
			return
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			log.Fatal("epoll_wait: ", err)
		}
		if l.spin {
			// After work, look again without sleeping: the answer to what
			// was just forwarded is often there already. Sleep only when a
			// look finds nothing (as gnet does).
			if n > 0 {
				wait = 0
			} else if wait == 0 {
				wait = 100
				runtime.Gosched()
				continue
			}
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			c := l.conns[fd]
			if c == nil {
				continue
			}
			if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				l.closePair(c)
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 && !l.flush(c) {
				continue
			}
			if ev.Events&syscall.EPOLLIN != 0 {
				l.read(c)
			}
		}
		if len(l.logBuf) > 0 && time.Since(l.lastLog) > 100*time.Millisecond {
			l.flushLog()
		}
	}
}

// close stops accepting; run returns within its 100 ms wait. Open
// connections are left to the process's end.
func (l *loop) close() {
	l.closed.Store(true)
	syscall.Close(l.lfd)
}

func (l *loop) accept() {
	for {
		fd, sa, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN or a transient error: epoll reports the next one
		}
		up, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err == nil {
			// A blocking connect on loopback, then non-blocking from there:
			// connections are kept alive, so this is paid once per client.
			if err = syscall.Connect(up, &l.upstream); err == nil {
				err = syscall.SetNonblock(up, true)
			}
		}
		if err != nil {
			syscall.Close(fd)
			if up > 0 {
				syscall.Close(up)
			}
			continue
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		_ = syscall.SetsockoptInt(up, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		ip := ""
		if s4, ok := sa.(*syscall.SockaddrInet4); ok {
			ip = netip.AddrFrom4(s4.Addr).String()
		}
		l.conns[fd] = &conn{fd: fd, peer: up, client: true, ip: ip}
		l.conns[up] = &conn{fd: up, peer: fd}
		for _, f := range []int{fd, up} {
			_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, f, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(f)})
		}
	}
}

// read reads what the socket has, once (level-triggered: if more is left,
// epoll says so again), and handles every complete message in it.
func (l *loop) read(c *conn) {
	n, err := syscall.Read(c.fd, l.buf)
	if n <= 0 {
		if n == 0 || !errors.Is(err, syscall.EAGAIN) {
			l.closePair(c)
		}
		return
	}
	c.in = append(c.in, l.buf[:n]...)
	for len(c.in) > 0 {
		var ok bool
		if c.client {
			ok = l.request(c)
		} else {
			ok = l.response(c)
		}
		if !ok {
			return
		}
	}
}

// request forwards one complete request from client c upstream.
func (l *loop) request(c *conn) bool {
	end := bytes.Index(c.in, []byte("\r\n\r\n"))
	if end < 0 {
		if len(c.in) > maxHead {
			l.closePair(c)
		}
		return false
	}
	head := c.in[:end+2] // through the last header's CRLF
	if lower := bytes.ToLower(head); bytes.Contains(lower, []byte("\ncontent-length:")) || bytes.Contains(lower, []byte("\ntransfer-encoding:")) {
		l.closePair(c) // a body: not handled by this experiment
		return false
	}
	line := head[:bytes.IndexByte(head, '\n')]
	parts := bytes.SplitN(bytes.TrimRight(line, "\r"), []byte(" "), 3)
	if len(parts) != 3 {
		l.closePair(c)
		return false
	}
	c.method, c.path, c.start = string(parts[0]), string(parts[1]), time.Now()
	up := l.conns[c.peer]
	id := strconv.FormatUint(reqSeq.Add(1), 16)
	up.out = append(up.out, head...)
	up.out = append(up.out, "X-Request-Id: "...)
	up.out = append(up.out, id...)
	up.out = append(up.out, "\r\nX-Forwarded-For: "...)
	up.out = append(up.out, c.ip...)
	up.out = append(up.out, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
	c.in = c.in[end+4:]
	l.flush(up)
	return true
}

// response returns one complete response from upstream connection u to its
// client, with the security headers, and logs the request.
func (l *loop) response(u *conn) bool {
	end := bytes.Index(u.in, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head := u.in[:end+2]
	i := bytes.Index(bytes.ToLower(head), []byte("\ncontent-length:"))
	if i < 0 {
		l.closePair(u)
		return false
	}
	v := head[i+len("\ncontent-length:"):]
	v = bytes.TrimSpace(v[:bytes.IndexByte(v, '\n')])
	size, err := strconv.Atoi(string(v))
	if err != nil || size < 0 {
		l.closePair(u)
		return false
	}
	if len(u.in) < end+4+size {
		return false
	}
	c := l.conns[u.peer]
	status := head[9:12]
	c.out = append(c.out, head...)
	c.out = append(c.out, "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n\r\n"...)
	c.out = append(c.out, u.in[end+4:end+4+size]...)
	u.in = u.in[end+4+size:]
	l.logBuf = fmt.Appendf(l.logBuf, `{"time":%q,"msg":"request","method":%q,"path":%q,"status":%s,"ms":%.3f,"client_ip":%q}`+"\n",
		c.start.UTC().Format(time.RFC3339Nano), c.method, c.path, status, float64(time.Since(c.start).Microseconds())/1000, c.ip)
	if len(l.logBuf) > logBufSize-512 {
		l.flushLog()
	}
	l.flush(c)
	return true
}

// flush writes c.out as far as the socket takes it, and waits for EPOLLOUT
// for the rest. It reports whether c is still open.
func (l *loop) flush(c *conn) bool {
	for len(c.out) > 0 {
		n, err := syscall.Write(c.fd, c.out)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				if !c.waitOut {
					c.waitOut = true
					_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
				}
				return true
			}
			l.closePair(c)
			return false
		}
		c.out = c.out[n:]
	}
	c.out = c.out[:0]
	if c.waitOut {
		c.waitOut = false
		_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
	}
	return true
}

func (l *loop) flushLog() {
	_, _ = l.logFile.Write(l.logBuf)
	l.logBuf, l.lastLog = l.logBuf[:0], time.Now()
}

func (l *loop) closePair(c *conn) {
	for _, fd := range []int{c.fd, c.peer} {
		if _, ok := l.conns[fd]; ok {
			delete(l.conns, fd)
			syscall.Close(fd)
		}
	}
}
