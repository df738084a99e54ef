// Package vm checks crid where its users run it, inside the VM tier's Debian guests
// (hack/vm, make test-vm): crid installed as a systemd service from
// hack/systemd/crid.service on a cgroup v2 host with systemd as PID 1, driven only through
// CRI gRPC on the service's socket.
//
// The tests run when CRID_VM_SERVICE names crid's unit (the guest suite sets it) and skip
// elsewhere. CRID_VM_CGROUP_DRIVER says which cgroup_driver the service was configured
// with (cgroupfs or systemd); the suite runs the tests once per driver.
package vm
