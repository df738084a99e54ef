package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// nc is OpenBSD netcat as the e2e specs run it:
//
//	echo hostName | nc -v -t -w 2 HOST PORT    service reachability: any reply counts
//	echo hostName | nc -w 1 -u HOST PORT       UDP: netexec answers with its hostname
//	nc -vz HOST PORT -w 5; nc -u -w 5 -p SRCPORT HOST PORT; nc -lU PATH
//
// Like OpenBSD's: stdin goes to the peer (each read one datagram over UDP), the peer's bytes
// to stdout; it ends when the peer closes or, with -w, once nothing moved for that long (UDP
// never closes: without -w it waits, as OpenBSD's does); the end of stdin does not end the
// connection unless -N or -q. -v reports on stderr. -t (OpenBSD: answer telnet
// negotiation, which the specs pass meaning "TCP") is accepted and does nothing: no server
// the specs reach negotiates.
func nc(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nc: "+format+"\n", a...)
		return 1
	}
	opts, operands, err := getopt(args, "46dklNntUuvzw:p:s:q:", nil)
	if err != nil {
		return fail("%v", err)
	}
	o := ncOptions{quit: -1}
	for _, op := range opts {
		switch op.name {
		case "4", "6":
			o.family = op.name
		case "d":
			o.noStdin = true
		case "k":
			o.keep = true
		case "l":
			o.listen = true
		case "N":
			o.shutdown = true
		case "n", "t":
		case "U":
			o.unix = true
		case "u":
			o.udp = true
		case "v":
			o.verbose = true
		case "z":
			o.zero = true
		case "p":
			o.srcPort = op.val
		case "s":
			o.srcAddr = op.val
		case "w", "q":
			d, err := seconds(op.val)
			if err != nil {
				return fail("timeout %q: %v", op.val, err)
			}
			if op.name == "w" {
				o.wait = d
			} else {
				o.quit = d
			}
		}
	}
	if o.listen {
		return ncListen(o, operands, stdin, stdout, stderr)
	}
	var addr, host, port string
	switch {
	case o.unix && len(operands) == 1:
		addr, host = operands[0], operands[0]
	case !o.unix && len(operands) == 2:
		host, port = operands[0], operands[1]
		addr = net.JoinHostPort(host, port)
	default:
		return fail("usage: nc [-46dklNnUuvz] [-p port] [-q sec] [-s addr] [-w sec] host port | -U path")
	}
	d := net.Dialer{Timeout: o.wait, Control: reuseAddr}
	if o.srcAddr != "" || o.srcPort != "" {
		local := net.JoinHostPort(o.srcAddr, o.srcPort)
		if o.srcPort == "" {
			local = net.JoinHostPort(o.srcAddr, "0")
		}
		if o.udp {
			d.LocalAddr, err = net.ResolveUDPAddr(o.network(), local)
		} else {
			d.LocalAddr, err = net.ResolveTCPAddr(o.network(), local)
		}
		if err != nil {
			return fail("source address %s: %v", local, err)
		}
	}
	c, err := d.Dial(o.network(), addr)
	if err != nil {
		return fail("connect to %s port %s (%s) failed: %v", host, port, o.proto(), cause(err))
	}
	if o.verbose {
		fmt.Fprintf(stderr, "Connection to %s %s port [%s/*] succeeded!\n", host, port, o.proto())
	}
	if o.zero {
		_ = c.Close()
		return 0
	}
	return ncPump(c.(ncConn), o, stdin, stdout, stderr)
}

type ncOptions struct {
	family                                                    string // "", "4" or "6"
	udp, unix, listen, keep, zero, verbose, noStdin, shutdown bool
	wait, quit                                                time.Duration // quit < 0: never
	srcPort, srcAddr                                          string
}

func (o ncOptions) network() string {
	switch {
	case o.unix && o.udp:
		return "unixgram"
	case o.unix:
		return "unix"
	case o.udp:
		return "udp" + o.family
	}
	return "tcp" + o.family
}

func (o ncOptions) proto() string {
	if o.udp {
		return "udp"
	}
	return "tcp"
}

// seconds parses a timeout in seconds, fractions allowed.
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, errors.New("not a number of seconds")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// cause is the system's reason under a net error ("connection refused"), as nc prints it.
func cause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("Operation timed out") //nolint:staticcheck // nc's own wording
	}
	return err
}

// reuseAddr lets a repeated `nc -p PORT` bind the port again while the previous TCP
// connection from it is in TIME_WAIT, as OpenBSD's nc does.
func reuseAddr(network, _ string, rc syscall.RawConn) error {
	if network == "unix" || network == "unixgram" {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}

type ncConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
}

// ncPump copies stdin to c and c to stdout until c ends, or, with -w, until nothing moved
// either way for that long.
func ncPump(c ncConn, o ncOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	defer c.Close()
	var last atomic.Int64 // when something last moved (unix ns): the idle timeout counts from it
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if !o.noStdin {
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
					touch()
				}
				if err != nil {
					break
				}
			}
			if cw, ok := c.(interface{ CloseWrite() error }); ok && o.shutdown {
				_ = cw.CloseWrite()
			}
			if o.quit >= 0 {
				time.Sleep(o.quit)
				_ = c.Close()
			}
		}()
	}
	buf := make([]byte, 64<<10)
	for {
		if o.wait > 0 {
			_ = c.SetReadDeadline(time.Unix(0, last.Load()).Add(o.wait))
		}
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := stdout.Write(buf[:n]); werr != nil {
				return 1
			}
			touch()
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			if time.Since(time.Unix(0, last.Load())) < o.wait {
				continue // stdin moved meanwhile
			}
			return 0
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return 0
		default:
			fmt.Fprintf(stderr, "nc: read: %v\n", cause(err))
			return 1
		}
	}
}

// ncListen serves one connection (each in turn with -k) on [host] port, -p port or a unix
// path; over UDP it talks to whoever sent the last datagram.
func ncListen(o ncOptions, operands []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var addr string
	switch {
	case o.unix && len(operands) == 1:
		addr = operands[0]
	case !o.unix && len(operands) == 2:
		addr = net.JoinHostPort(operands[0], operands[1])
	case !o.unix && len(operands) == 1:
		addr = net.JoinHostPort("", operands[0])
	case !o.unix && len(operands) == 0 && o.srcPort != "":
		addr = net.JoinHostPort(o.srcAddr, o.srcPort)
	default:
		fmt.Fprintln(stderr, "nc: usage: nc -l [-ku] [host] port | nc -l [-ku] -p port | nc -lU path")
		return 1
	}
	if o.udp {
		pc, err := net.ListenPacket(o.network(), addr)
		if err != nil {
			fmt.Fprintf(stderr, "nc: %v\n", cause(err))
			return 1
		}
		if o.verbose {
			fmt.Fprintf(stderr, "Bound on %s\n", pc.LocalAddr())
		}
		return ncPump(&udpPeer{PacketConn: pc, known: make(chan struct{})}, o, stdin, stdout, stderr)
	}
	ln, err := net.Listen(o.network(), addr)
	if err != nil {
		fmt.Fprintf(stderr, "nc: %v\n", cause(err))
		return 1
	}
	defer ln.Close()
	if o.verbose {
		fmt.Fprintf(stderr, "Listening on %s\n", ln.Addr())
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(stderr, "nc: accept: %v\n", err)
			return 1
		}
		if o.verbose {
			fmt.Fprintf(stderr, "Connection received on %s\n", c.RemoteAddr())
		}
		rc := ncPump(c.(ncConn), o, stdin, stdout, stderr)
		if !o.keep {
			return rc
		}
	}
}

// udpPeer is a listening UDP socket as a connection to the last sender; writes wait for
// the first datagram (before it there is nobody to answer).
type udpPeer struct {
	net.PacketConn
	mu    sync.Mutex
	peer  net.Addr
	known chan struct{}
}

func (u *udpPeer) Read(b []byte) (int, error) {
	n, from, err := u.ReadFrom(b)
	if from != nil {
		u.mu.Lock()
		if u.peer == nil {
			close(u.known)
		}
		u.peer = from
		u.mu.Unlock()
	}
	return n, err
}

func (u *udpPeer) Write(b []byte) (int, error) {
	<-u.known
	u.mu.Lock()
	to := u.peer
	u.mu.Unlock()
	return u.WriteTo(b, to)
}
