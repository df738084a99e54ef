package spec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// passwdEntry and groupEntry are the fields of /etc/passwd and /etc/group
// that decide a process identity.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// ResolveUser decides the container process identity the way kubelet
// expects: run_as_user or run_as_username from the security context win over
// the image's USER ("uid", "uid:gid", "name", "name:group", "uid:group",
// "name:gid"); names are looked up in the image's etc/passwd and etc/group
// (read from etc, which may be nil) and a name that is not there is an error.
// run_as_group replaces the primary group. Supplemental groups follow
// supplemental_groups_policy: Merge (default) adds the user's memberships in
// etc/group to supplemental_groups; Strict uses supplemental_groups only.
func ResolveUser(etc fs.FS, imageUser string, sc *runtime.LinuxContainerSecurityContext) (*User, error) {
	db := &userDB{fsys: etc}
	var (
		u   *User
		err error
	)
	switch {
	case sc.GetRunAsUser() != nil && sc.GetRunAsUsername() != "":
		return nil, invalidf("security_context.run_as_username", "cannot be set together with run_as_user")
	case sc.GetRunAsUser() != nil:
		uid, ok := idValue(sc.GetRunAsUser().GetValue())
		if !ok {
			return nil, invalidf("security_context.run_as_user", "%d is not a valid uid", sc.GetRunAsUser().GetValue())
		}
		u, err = db.byUID(uid, "security_context.run_as_user")
	case sc.GetRunAsUsername() != "":
		u, err = db.byName(sc.GetRunAsUsername(), "security_context.run_as_username")
	default:
		if sc.GetRunAsGroup() != nil {
			return nil, invalidf("security_context.run_as_group", "needs run_as_user or run_as_username")
		}
		u, err = db.parseUserString(imageUser)
	}
	if err != nil {
		return nil, err
	}
	if g := sc.GetRunAsGroup(); g != nil {
		gid, ok := idValue(g.GetValue())
		if !ok {
			return nil, invalidf("security_context.run_as_group", "%d is not a valid gid", g.GetValue())
		}
		u.GID = gid
	}
	groups := []uint32{u.GID}
	if sc.GetSupplementalGroupsPolicy() != runtime.SupplementalGroupsPolicy_Strict && u.Name != "" {
		member, err := db.memberships(u.Name, "supplemental_groups_policy")
		if err != nil {
			return nil, err
		}
		groups = append(groups, member...)
	}
	for i, g := range sc.GetSupplementalGroups() {
		gid, ok := idValue(g)
		if !ok {
			return nil, invalidf(fmt.Sprintf("security_context.supplemental_groups[%d]", i), "%d is not a valid gid", g)
		}
		groups = append(groups, gid)
	}
	u.AdditionalGids = dedupe(groups)
	return u, nil
}

// idValue accepts 0..2^32-2: (uint32)(-1) means "no change" to setuid(2).
func idValue(v int64) (uint32, bool) {
	if v < 0 || v >= math.MaxUint32 {
		return 0, false
	}
	return uint32(v), true
}

func dedupe(ids []uint32) []uint32 {
	out := make([]uint32, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// userDB reads etc/passwd and etc/group lazily and at most once.
type userDB struct {
	fsys   fs.FS
	passwd []passwdEntry
	group  []groupEntry
	loaded bool
}

func (db *userDB) load() error {
	if db.loaded {
		return nil
	}
	db.loaded = true
	var err error
	if db.passwd, err = readEntries(db.fsys, "etc/passwd", parsePasswdLine); err != nil {
		return err
	}
	db.group, err = readEntries(db.fsys, "etc/group", parseGroupLine)
	return err
}

// maxEtcFile bounds what crid reads of an image's etc/passwd or etc/group for
// its own parsing: the image is untrusted, and the daemon must not hold an
// arbitrarily large file in memory at CreateContainer. Real files are a few
// KiB; directory-synced ones stay far below this.
const maxEtcFile = 4 << 20

// readEntries parses a colon file; a missing file is empty, as in an image
// without one (scratch images), and malformed lines are skipped as libc does.
// Only a regular file of at most maxEtcFile bytes is read: a FIFO would block
// the request for ever and a device could stream without end.
func readEntries[T any](fsys fs.FS, name string, parse func([]string) (T, bool)) ([]T, error) {
	if fsys == nil {
		return nil, nil
	}
	fi, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if err := checkEtcFile(name, fi); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if err := checkEtcFile(name, fi); err != nil {
		return nil, err
	}
	var out []T
	// One byte over the cap tells a file that grew after the check from one
	// that is exactly maxEtcFile long.
	lr := &io.LimitedReader{R: f, N: maxEtcFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if e, ok := parse(strings.Split(line, ":")); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("image /%s: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("image /%s is larger than %d bytes: %w", name, maxEtcFile, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func checkEtcFile(name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("image /%s is not a regular file (%s): %w", name, fi.Mode().Type(), errdefs.ErrInvalidArgument)
	}
	if fi.Size() > maxEtcFile {
		return fmt.Errorf("image /%s is %d bytes, more than the %d crid reads: %w", name, fi.Size(), maxEtcFile, errdefs.ErrInvalidArgument)
	}
	return nil
}

func parsePasswdLine(f []string) (passwdEntry, bool) {
	if len(f) < 6 {
		return passwdEntry{}, false
	}
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil || f[0] == "" {
		return passwdEntry{}, false
	}
	return passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]}, true
}

func parseGroupLine(f []string) (groupEntry, bool) {
	if len(f) < 3 {
		return groupEntry{}, false
	}
	gid, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil || f[0] == "" {
		return groupEntry{}, false
	}
	g := groupEntry{name: f[0], gid: uint32(gid)}
	if len(f) > 3 && f[3] != "" {
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.members = append(g.members, m)
			}
		}
	}
	return g, true
}

// userFrom refuses the ids setresuid/setresgid take as "no change" (2^32-1):
// the process would stay root while crid reported the image's id.
func (db *userDB) userFrom(e passwdEntry, field string) (*User, error) {
	if _, ok := idValue(int64(e.uid)); !ok {
		return nil, invalidf(field, "user %q has uid %d in the image's /etc/passwd, which is not a valid uid", e.name, e.uid)
	}
	if _, ok := idValue(int64(e.gid)); !ok {
		return nil, invalidf(field, "user %q has gid %d in the image's /etc/passwd, which is not a valid gid", e.name, e.gid)
	}
	home := e.home
	if home == "" {
		home = "/"
	}
	return &User{UID: e.uid, GID: e.gid, Name: e.name, Home: home}, nil
}

// byUID: a uid need not be in etc/passwd; then its group is 0 and home "/".
func (db *userDB) byUID(uid uint32, field string) (*User, error) {
	if err := db.load(); err != nil {
		return nil, err
	}
	for _, e := range db.passwd {
		if e.uid == uid {
			return db.userFrom(e, field)
		}
	}
	return &User{UID: uid, Home: "/"}, nil
}

func (db *userDB) byName(name, field string) (*User, error) {
	if err := db.load(); err != nil {
		return nil, err
	}
	for _, e := range db.passwd {
		if e.name == name {
			return db.userFrom(e, field)
		}
	}
	return nil, invalidf(field, "user %q not found in the image's /etc/passwd", name)
}

func (db *userDB) groupID(spec, field string) (uint32, error) {
	if n, err := strconv.ParseUint(spec, 10, 32); err == nil {
		if gid, ok := idValue(int64(n)); ok {
			return gid, nil
		}
		return 0, invalidf(field, "%q is not a valid gid", spec)
	}
	if err := db.load(); err != nil {
		return 0, err
	}
	for _, g := range db.group {
		if g.name == spec {
			if _, ok := idValue(int64(g.gid)); !ok {
				return 0, invalidf(field, "group %q has gid %d in the image's /etc/group, which is not a valid gid", spec, g.gid)
			}
			return g.gid, nil
		}
	}
	return 0, invalidf(field, "group %q not found in the image's /etc/group", spec)
}

// parseUserString reads the image config's USER.
func (db *userDB) parseUserString(s string) (*User, error) {
	const field = "image config User"
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	var (
		u   *User
		err error
	)
	switch {
	case userPart == "":
		if hasGroup {
			return nil, invalidf(field, "%q has a group but no user", s)
		}
		u, err = db.byUID(0, field)
	case isDigits(userPart):
		n, perr := strconv.ParseUint(userPart, 10, 32)
		uid, ok := idValue(int64(n))
		if perr != nil || !ok {
			return nil, invalidf(field, "%q is not a valid uid", userPart)
		}
		u, err = db.byUID(uid, field)
	default:
		u, err = db.byName(userPart, field)
	}
	if err != nil {
		return nil, err
	}
	if hasGroup {
		if u.GID, err = db.groupID(groupPart, field); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// memberships lists the gids of groups that name the user as a member.
func (db *userDB) memberships(name, field string) ([]uint32, error) {
	if err := db.load(); err != nil {
		return nil, err
	}
	var out []uint32
	for _, g := range db.group {
		if slices.Contains(g.members, name) {
			if _, ok := idValue(int64(g.gid)); !ok {
				return nil, invalidf(field, "group %q of user %q has gid %d in the image's /etc/group, which is not a valid gid", g.name, name, g.gid)
			}
			out = append(out, g.gid)
		}
	}
	return out, nil
}

// checkUserMapped refuses a process identity the user namespace has no
// mapping for (uids/gids nil: the host's namespace, where every valid id
// exists). The executor's setresuid would fail late with a bare EINVAL;
// here the request is refused naming the id.
func checkUserMapped(u specs.User, uids, gids []specs.LinuxIDMapping, field string) error {
	if uids == nil && gids == nil {
		return nil
	}
	if !idMapped(u.UID, uids) {
		return invalidf(field, "uid %d is outside the pod's user namespace mapping", u.UID)
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if !idMapped(g, gids) {
			return invalidf(field, "gid %d is outside the pod's user namespace mapping", g)
		}
	}
	return nil
}

func idMapped(id uint32, maps []specs.LinuxIDMapping) bool {
	for _, m := range maps {
		if uint64(id) >= uint64(m.ContainerID) && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// ContainerUser reports the identity in a spec for ContainerStatus.user.
func ContainerUser(s *specs.Spec) *runtime.ContainerUser {
	if s == nil || s.Process == nil {
		return nil
	}
	u := s.Process.User
	l := &runtime.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID)}
	for _, g := range u.AdditionalGids {
		l.SupplementalGroups = append(l.SupplementalGroups, int64(g))
	}
	return &runtime.ContainerUser{Linux: l}
}
