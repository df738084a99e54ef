package apparmor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"text/template"
)

// DefaultName is the stem of crid's RuntimeDefault profile's name; the
// profile loaded is DefaultName-<hash of its text>, so a crid with a changed
// profile loads its own next to an older one still confining running
// containers, never a stale one under the same name.
const DefaultName = "crid-default"

// Profile is an AppArmor profile: its name and its source text.
type Profile struct {
	Name string
	Text []byte
}

// The default profile lets a container do what containers do (files,
// network, capabilities its bounding set allows) but not what would reach out
// of it: no mount, no write to kernel knobs that are not per namespace, no
// ptrace or signals to processes of other profiles. It includes nothing from
// /etc/apparmor.d, so it loads wherever apparmor_parser is, and it names
// /proc and /sys directly. It is modelled on the containerd and CRI-O
// default profiles.
var defaultTemplate = template.Must(template.New("profile").Parse(`# crid's RuntimeDefault profile (generated; do not edit: crid loads its own).
profile {{.Name}} flags=(attach_disconnected,mediate_deleted) {
  network,
  capability,
  file,
  umount,

  # Only among the container's own processes; the runtime (unconfined) may
  # signal them.
  signal (send,receive) peer={{.Name}},
  signal (receive) peer=unconfined,
  ptrace (trace,read,tracedby,readby) peer={{.Name}},

  # The container's mounts are made for it; it makes none.
  deny mount,
  deny pivot_root,

  # /proc: a process's own files (/proc/<pid>/...) stay writable; the host's
  # tables and triggers do not.
  deny /proc/* w,
  deny /proc/{acpi,asound,bus,driver,dynamic_debug,fs,irq,pressure,scsi,sysvipc,tty}/** w,
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /proc/kmsg rwklx,

  # /proc/sys: only the per-namespace knobs stay writable (net.*, the IPC
  # namespace's kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*).
  deny /proc/sys/{abi,crypto,debug,dev,kernel/*,sunrpc,user,vm}/** w,
  deny /proc/sys/kernel/{[^ms]*,m[^s]*,ms[^g]*,s[^he]*,se[^m]*,sh[^m]*} w,
  deny /proc/sys/fs/{[^m]*,m[^q]*,mq[^u]*} w,
  deny /proc/sys/fs/{[^m]*,m[^q]*,mq[^u]*}/** w,

  # /sys: nothing writable but the container's own cgroup files.
  deny /sys/{block,bus,class,dev,devices,hypervisor,kernel,module,power}/** wklx,
  deny /sys/fs/{[^c]*,c[^g]*,cg[^r]*}/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,
}
`))

// DefaultProfile is crid's RuntimeDefault profile, named after its text.
func DefaultProfile() Profile {
	// The hash covers the text with a placeholder name (the name is in the text).
	h := sha256.Sum256(render(DefaultName))
	name := DefaultName + "-" + hex.EncodeToString(h[:])[:12]
	return Profile{Name: name, Text: render(name)}
}

func render(name string) []byte {
	var b bytes.Buffer
	if err := defaultTemplate.Execute(&b, struct{ Name string }{name}); err != nil {
		panic(err) // a fixed template over a string cannot fail
	}
	return b.Bytes()
}
