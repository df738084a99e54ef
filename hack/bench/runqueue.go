package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// runQueue reads how long the threads of one process have waited in the kernel's run
// queue (run_delay, the second field of /proc/PID/task/TID/schedstat), summed. It is read
// twice around every timed List*/stats call: it keeps each thread's schedstat open and
// preads it into one buffer, and lists the threads again only when their count in
// /proc/PID/stat changes or one has ended. Opening, reading and closing every thread's
// file with a string per field (as before) was a third of the bench's own CPU in the List
// phase and most of its garbage: with a heap of a few MB the bench ran a GC every ~20 ms,
// whose workers competed with the timed calls for the 2 CPUs.
type runQueue struct {
	pid     int
	stat    *os.File            // /proc/PID/stat: its thread count
	threads map[string]*os.File // schedstat by tid
	buf     [512]byte
}

// newRunQueue opens pid's files; nil where the kernel has no schedstat or pid is gone.
func newRunQueue(pid int) *runQueue {
	stat, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	q := &runQueue{pid: pid, stat: stat, threads: map[string]*os.File{}}
	if !q.relist() {
		q.close()
		return nil
	}
	return q
}

// ns is the run-queue time of the process's threads, summed; ok is false once the
// process is gone (or q is nil).
func (q *runQueue) ns() (total int64, ok bool) {
	if q == nil {
		return 0, false
	}
	n, err := q.stat.ReadAt(q.buf[:], 0)
	if n == 0 && err != nil {
		return 0, false
	}
	if threads, ok := statThreads(q.buf[:n]); !ok || threads != len(q.threads) {
		q.relist()
	}
	for tid, f := range q.threads {
		v, ok := q.readDelay(f)
		if !ok { // the thread ended: its wait leaves the sum, as it did when it was listed afresh
			f.Close()
			delete(q.threads, tid)
			continue
		}
		total += v
	}
	return total, len(q.threads) > 0
}

// readDelay preads one schedstat file's run_delay.
func (q *runQueue) readDelay(f *os.File) (int64, bool) {
	n, err := f.ReadAt(q.buf[:], 0)
	if n == 0 && err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(field(q.buf[:n], 1)), 10, 64) // string(b) in a call that keeps it: no copy
	return v, err == nil
}

// relist opens the schedstat of threads not yet kept and closes those of ended ones.
func (q *runQueue) relist() bool {
	dir := fmt.Sprintf("/proc/%d/task", q.pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		seen[e.Name()] = true
		if q.threads[e.Name()] != nil {
			continue
		}
		if f, err := os.Open(dir + "/" + e.Name() + "/schedstat"); err == nil {
			q.threads[e.Name()] = f
		}
	}
	for tid, f := range q.threads {
		if !seen[tid] {
			f.Close()
			delete(q.threads, tid)
		}
	}
	return len(q.threads) > 0
}

func (q *runQueue) close() {
	if q == nil {
		return
	}
	q.stat.Close()
	for _, f := range q.threads {
		f.Close()
	}
}

// statThreads is num_threads, the 20th field of /proc/PID/stat (the 18th after the
// command name, which may hold spaces and parentheses).
func statThreads(b []byte) (int, bool) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(field(b[end+1:], 17)))
	return n, err == nil
}

// field is the i-th (from 0) space-separated field of b, nil if b has fewer; unlike
// bytes.Fields it allocates nothing.
func field(b []byte, i int) []byte {
	for {
		b = bytes.TrimLeft(b, " \n")
		if len(b) == 0 {
			return nil
		}
		end := bytes.IndexAny(b, " \n")
		if end < 0 {
			end = len(b)
		}
		if i == 0 {
			return b[:end]
		}
		b, i = b[end:], i-1
	}
}
