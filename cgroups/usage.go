package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Usage reads only the figures the CRI stats messages carry, straight from the cgroup's
// files: CPU time, memory usage, limit, working set, RSS, cache, mapped file, page faults
// and swap, the task count and, on v2, CPU user/system time and pressure. Every other
// field of s is left zero. kubelet asks for every container's stats every few seconds:
// Stats goes through the library, which on v1 parses /proc/self/mountinfo for each cgroup
// (hundreds of lines on a busy node) and reads every controller's files (hugetlb, blkio,
// kmem, rdma: about 40 per container); Usage reads 6 files on v1, 9 on v2, into a pooled
// buffer, and parses them without allocating. UsageReader also keeps them open.
//
// A cgroup that does not exist is an error wrapping fs.ErrNotExist; a missing optional
// file (pids or swap accounting off, a kernel without PSI) leaves its figures zero or nil.
func (t Tree) Usage(path string, s *Stats) error {
	return t.usage(path, s, t.files(path))
}

// fileReader reads one file of a cgroup whole into buf: ctrl is the v1 hierarchy the file
// is in ("/memory"; "" on v2) and file its name. A missing file (or cgroup) is an error
// wrapping ENOENT. The file's path is built only to open it: a reader that keeps the
// files open (UsageReader) reads every container's cgroup each stats pass without
// allocating one.
type fileReader func(ctrl, file string, buf []byte) ([]byte, error)

// files reads path's files by open+read+close.
func (t Tree) files(path string) fileReader {
	return func(ctrl, file string, buf []byte) ([]byte, error) {
		return readCgroupFile(filePath(t.Root, ctrl, path, file), buf)
	}
}

// filePath is the path of file name of the cgroup at path in the tree at root, in
// hierarchy ctrl on v1.
func filePath(root, ctrl, path, name string) string {
	return root + ctrl + path + "/" + name
}

func (t Tree) usage(path string, s *Stats, read fileReader) error {
	if err := t.valid(); err != nil {
		return err
	}
	bp := usageBufs.Get().(*[]byte)
	defer usageBufs.Put(bp)
	buf := *bp
	*s = Stats{Timestamp: time.Now()}
	var err error
	if t.Unified {
		err = usageV2(s, buf, read)
	} else {
		err = usageV1(s, buf, read)
	}
	if err != nil {
		return fmt.Errorf("cgroup %s stats: %w", path, err)
	}
	return nil
}

// usageBufs holds read buffers: memory.stat, the largest file read, is about 1.5 KiB on
// v1 and 2 KiB on v2 (kernel 6.x).
var usageBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func usageV1(s *Stats, buf []byte, read fileReader) error {
	const mem = "/memory"
	b, err := read("/cpuacct", "cpuacct.usage", buf)
	if err != nil {
		return err
	}
	s.CPUUsageNanos = parseUint(b)
	if b, err = read(mem, "memory.usage_in_bytes", buf); err != nil {
		return err
	}
	s.MemoryUsage = parseUint(b)
	if b, err = read(mem, "memory.limit_in_bytes", buf); err != nil {
		return err
	}
	s.MemoryLimit = unlimited(parseUint(b))
	if b, err = read(mem, "memory.stat", buf); err != nil {
		return err
	}
	var inactiveFile uint64
	eachKey(b, func(k []byte, v uint64) {
		switch string(k) {
		case "total_rss":
			s.MemoryRSS = v
		case "total_cache":
			s.MemoryCache = v
		case "total_mapped_file":
			s.MemoryMappedFile = v
		case "total_pgfault":
			s.PageFaults = v
		case "total_pgmajfault":
			s.MajorPageFaults = v
		case "total_inactive_file":
			inactiveFile = v
		}
	})
	s.MemoryWorkingSet = workingSet(s.MemoryUsage, inactiveFile)
	// memsw counts memory + swap; absent without swap accounting.
	if b, err = optional(read(mem, "memory.memsw.usage_in_bytes", buf)); err != nil {
		return err
	}
	if sw := parseUint(b); sw > s.MemoryUsage {
		s.MemorySwap = sw - s.MemoryUsage
	}
	if b, err = optional(read("/pids", "pids.current", buf)); err != nil {
		return err
	}
	s.Pids = parseUint(b)
	return nil
}

func usageV2(s *Stats, buf []byte, read fileReader) error {
	b, err := read("", "cpu.stat", buf)
	if err != nil {
		return err
	}
	eachKey(b, func(k []byte, v uint64) {
		switch string(k) {
		case "usage_usec":
			s.CPUUsageNanos = v * 1000
		case "user_usec":
			s.CPUUserNanos = v * 1000
		case "system_usec":
			s.CPUSystemNanos = v * 1000
		}
	})
	// memory, pids and swap are optional on v2: a controller not enabled in the parent's
	// subtree_control has no files here.
	if b, err = optional(read("", "memory.current", buf)); err != nil {
		return err
	}
	s.MemoryUsage = parseUint(b)
	if b, err = optional(read("", "memory.max", buf)); err != nil {
		return err
	}
	s.MemoryLimit = unlimited(parseUint(b)) // "max" parses as 0: no limit
	if b, err = optional(read("", "memory.stat", buf)); err != nil {
		return err
	}
	var inactiveFile uint64
	eachKey(b, func(k []byte, v uint64) {
		switch string(k) {
		case "anon":
			s.MemoryRSS = v
		case "file":
			s.MemoryCache = v
		case "file_mapped":
			s.MemoryMappedFile = v
		case "pgfault":
			s.PageFaults = v
		case "pgmajfault":
			s.MajorPageFaults = v
		case "inactive_file":
			inactiveFile = v
		}
	})
	s.MemoryWorkingSet = workingSet(s.MemoryUsage, inactiveFile)
	if b, err = optional(read("", "memory.swap.current", buf)); err != nil {
		return err
	}
	s.MemorySwap = parseUint(b)
	if b, err = optional(read("", "pids.current", buf)); err != nil {
		return err
	}
	s.Pids = parseUint(b)
	return s.readPressure(buf, read)
}

// Pressure reads the cgroup's pressure stall information (v2 only: nil on v1, and where
// the kernel reports none).
func (t Tree) Pressure(path string) (cpu, memory, io *Pressure, err error) {
	return t.pressure(path, t.files(path))
}

func (t Tree) pressure(path string, read fileReader) (cpu, memory, io *Pressure, err error) {
	if err := t.valid(); err != nil || !t.Unified {
		return nil, nil, nil, err
	}
	bp := usageBufs.Get().(*[]byte)
	defer usageBufs.Put(bp)
	var s Stats
	if err := s.readPressure(*bp, read); err != nil {
		return nil, nil, nil, fmt.Errorf("cgroup %s pressure: %w", path, err)
	}
	return s.CPUPressure, s.MemoryPressure, s.IOPressure, nil
}

func (s *Stats) readPressure(buf []byte, read fileReader) error {
	for _, p := range []struct {
		file string
		into **Pressure
	}{{"cpu.pressure", &s.CPUPressure}, {"memory.pressure", &s.MemoryPressure}, {"io.pressure", &s.IOPressure}} {
		b, err := optional(read("", p.file, buf))
		if err != nil {
			return err
		}
		*p.into = parsePressure(b)
	}
	return nil
}

// readCgroupFile reads a cgroup file whole into buf with plain syscalls: no *os.File, no
// poller registration, no allocation. A cgroup file is a seq_file of one record, which
// the kernel generates whole, so one read returns all of it (buf is far larger than any
// file read here): no second read to find EOF.
func readCgroupFile(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &pathError{path, err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{path, err}
		}
		return buf[:n], nil
	}
}

// optional turns a missing file into an empty one.
func optional(b []byte, err error) ([]byte, error) {
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	return b, err
}

// pathError names the file; it wraps the errno, so errors.Is(err, fs.ErrNotExist) holds
// for ENOENT.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// parseUint reads the leading decimal number of b ("123\n"); anything else ("max") is 0.
func parseUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// eachKey calls f for each "key value" line of a flat-keyed cgroup file (f switches on
// string(k), which the compiler does without a copy).
func eachKey(b []byte, f func(k []byte, v uint64)) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 {
			continue
		}
		f(line[:sp], parseUint(line[sp+1:]))
	}
}

// parsePressure reads a *.pressure file ("some avg10=1.50 avg60=0.75 avg300=0.25
// total=12345" and a "full" line); nil for an empty file.
func parsePressure(b []byte) *Pressure {
	var p Pressure
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 {
			continue
		}
		l := &PressureLine{}
		for rest := line[sp+1:]; len(rest) > 0; {
			field := rest
			if i := bytes.IndexByte(rest, ' '); i >= 0 {
				field, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			eq := bytes.IndexByte(field, '=')
			if eq < 0 {
				continue
			}
			switch v := field[eq+1:]; string(field[:eq]) {
			case "avg10":
				l.Avg10 = parsePercent(v)
			case "avg60":
				l.Avg60 = parsePercent(v)
			case "avg300":
				l.Avg300 = parsePercent(v)
			case "total":
				l.TotalMicros = parseUint(v)
			}
		}
		switch string(line[:sp]) {
		case "some":
			p.Some = l
		case "full":
			p.Full = l
		}
	}
	if p.Some == nil && p.Full == nil {
		return nil
	}
	return &p
}

// parsePercent reads the kernel's "%lu.%02lu" averages: the digits as one integer over a
// power of ten, so "0.75" is the float strconv gives.
func parsePercent(b []byte) float64 {
	var v, scale uint64 = 0, 1
	frac := false
	for _, c := range b {
		switch {
		case c == '.' && !frac:
			frac = true
		case c >= '0' && c <= '9':
			v = v*10 + uint64(c-'0')
			if frac {
				scale *= 10
			}
		default:
			return float64(v) / float64(scale)
		}
	}
	return float64(v) / float64(scale)
}
