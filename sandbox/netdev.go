package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// netDevFiles keeps each ready pod's /proc/<pause pid>/net/dev open: the file shows the
// pod's network namespace, and reading it again from offset 0 regenerates it, at about a
// tenth of the cost of open+read+close (per pod, every sampler pass). An open file holds
// the namespace, so the pod's stop closes it (forget), as do its removal and a sampler
// pass that finds the pod no longer ready.
type netDevFiles struct {
	mu  sync.Mutex // held across a read: a concurrent forget must not close the fd under it
	fds map[string]netDevFD
	buf [16 << 10]byte
}

type netDevFD struct{ pid, fd int }

// read returns the pod's interfaces but the loopback, through its kept file.
func (n *netDevFiles) read(podID string, pid int) ([]NetStats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.fds[podID]
	if ok && f.pid != pid {
		_ = unix.Close(f.fd)
		delete(n.fds, podID)
		ok = false
	}
	if !ok {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/net/dev", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("pod %s network counters: %w", podID, err)
		}
		if n.fds == nil {
			n.fds = map[string]netDevFD{}
		}
		f = netDevFD{pid: pid, fd: fd}
		n.fds[podID] = f
	}
	for {
		// A seq_file read fills the buffer or ends the file: one read is all of it.
		c, err := unix.Pread(f.fd, n.buf[:], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			_ = unix.Close(f.fd)
			delete(n.fds, podID)
			return nil, fmt.Errorf("pod %s network counters: %w", podID, err)
		}
		return parseNetDev(n.buf[:c]), nil
	}
}

func (n *netDevFiles) forget(podID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f, ok := n.fds[podID]; ok {
		_ = unix.Close(f.fd)
		delete(n.fds, podID)
	}
}

// keep closes the files of pods not in live.
func (n *netDevFiles) keep(live map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, f := range n.fds {
		if !live[id] {
			_ = unix.Close(f.fd)
			delete(n.fds, id)
		}
	}
}

func (n *netDevFiles) open() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.fds)
}

// parseNetDev parses /proc/net/dev, leaving out the loopback.
func parseNetDev(b []byte) []NetStats {
	var out []NetStats
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // the two header lines
		}
		name := bytes.TrimSpace(line[:colon])
		// receive: bytes packets errs drop ...; transmit (from field 8): the same.
		var f [12]uint64
		n := 0
		for rest := line[colon+1:]; n < len(f); n++ {
			rest = bytes.TrimLeft(rest, " \t")
			if len(rest) == 0 {
				break
			}
			end := bytes.IndexAny(rest, " \t")
			if end < 0 {
				end = len(rest)
			}
			f[n], rest = decimal(rest[:end]), rest[end:]
		}
		if string(name) == "lo" || n < len(f) {
			continue
		}
		out = append(out, NetStats{
			Name: string(name), RxBytes: f[0], RxPackets: f[1], RxErrors: f[2], RxDropped: f[3],
			TxBytes: f[8], TxPackets: f[9], TxErrors: f[10], TxDropped: f[11],
		})
	}
	return out
}

// decimal is b's value as an unsigned decimal; 0 unless b is all digits (and fits).
func decimal(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' || v > (math.MaxUint64-9)/10 {
			return 0
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}
