package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Mem is a process's (or a group's summed) resident and proportional set size.
type Mem struct {
	RssKB int64 `json:"rss_kb"`
	PssKB int64 `json:"pss_kb"`
}

// readMem reads Rss and Pss from /proc/PID/smaps_rollup (zero if the process is gone).
func readMem(pid int) Mem {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return Mem{}
	}
	defer f.Close()
	var m Mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "Rss":
			m.RssKB = n
		case "Pss":
			m.PssKB = n
		}
	}
	return m
}

// socketOwner finds the process listening on the unix socket path: its inode from
// /proc/net/unix, then the process holding an fd to that inode.
func socketOwner(path string) (int, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	inode := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fl := strings.Fields(sc.Text())
		if len(fl) >= 8 && fl[7] == path && fl[5] == "01" {
			inode = fl[6]
			break
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("nothing listens on %s", path)
	}
	want := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := os.ReadDir(p + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && l == want {
				return strconv.Atoi(filepath.Base(p))
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket %s", path)
}

// shimPids lists processes whose command line matches re and names one of ids.
func shimPids(re string, ids []string) ([]int, error) {
	if re == "" {
		return nil, nil
	}
	rx, err := regexp.Compile(re)
	if err != nil {
		return nil, err
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range procs {
		b, err := os.ReadFile(p + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if !rx.MatchString(cmd) {
			continue
		}
		for _, id := range ids {
			if strings.Contains(cmd, id) {
				pid, _ := strconv.Atoi(filepath.Base(p))
				out = append(out, pid)
				break
			}
		}
	}
	return out, nil
}

func memAvailableKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// daemonCPU is the CPU time pid's threads have used so far, user and system (utime and
// stime of /proc/PID/stat, in USER_HZ ticks of 10 ms); zero without a pid.
func daemonCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from its end.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
