// Package apparmor finds out whether the kernel enforces AppArmor, which
// profiles are loaded, and generates and loads crid's RuntimeDefault profile
// (profile.go). Applying a profile to a process is the executor's part: it
// asks for the profile on exec (/proc/thread-self/attr/apparmor/exec) right
// before the container's process starts.
package apparmor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

const (
	enabledParam = "/sys/module/apparmor/parameters/enabled"
	securityfs   = "/sys/kernel/security/apparmor"
	profilesFile = securityfs + "/profiles"
)

// Enabled reports whether the kernel enforces AppArmor and its securityfs is
// there to load profiles through.
func Enabled() bool {
	b, err := os.ReadFile(enabledParam)
	if err != nil || !bytes.HasPrefix(b, []byte("Y")) {
		return false
	}
	_, err = os.Stat(securityfs)
	return err == nil
}

// ErrNotLoaded is the error of a profile the kernel does not have.
var ErrNotLoaded = errors.New("apparmor profile not loaded")

// CheckLoaded returns nil when the kernel has a profile of that name, else
// an error wrapping ErrNotLoaded (or why the list could not be read).
func CheckLoaded(name string) error {
	f, err := os.Open(profilesFile)
	if err != nil {
		return fmt.Errorf("apparmor profiles: %w", err)
	}
	defer f.Close()
	ok, err := listed(f, name)
	if err != nil {
		return fmt.Errorf("apparmor profiles: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: %q (load it with apparmor_parser first)", ErrNotLoaded, name)
	}
	return nil
}

// listed tells whether the securityfs profile list ("name (mode)" lines)
// holds name.
func listed(r io.Reader, name string) (bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndex(line, " (")
		if i > 0 && line[:i] == name {
			return true, nil
		}
	}
	return false, sc.Err()
}

// EnsureLoaded loads p with apparmor_parser (found in $PATH, /sbin or
// /usr/sbin) unless the kernel has it already. Profiles are named after
// their text (DefaultProfile), so a loaded one of the same name is current.
func EnsureLoaded(ctx context.Context, p Profile) error {
	if CheckLoaded(p.Name) == nil {
		return nil
	}
	parser, err := ParserPath()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// -K: no cache (crid's profile is tiny); -r: replace if loaded meanwhile.
	cmd := exec.CommandContext(ctx, parser, "-Kr")
	cmd.Stdin = bytes.NewReader(p.Text)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("load apparmor profile %s: %s: %w: %s", p.Name, parser, err, strings.TrimSpace(string(out)))
	}
	return CheckLoaded(p.Name)
}

// ParserPath finds apparmor_parser, which loads crid's RuntimeDefault profile.
func ParserPath() (string, error) {
	if p, err := exec.LookPath("apparmor_parser"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("apparmor_parser not found (Debian: apt-get install apparmor)")
}
