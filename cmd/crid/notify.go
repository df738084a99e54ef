package main

import (
	"log/slog"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// crid runs as a Type=notify unit (hack/systemd/crid.service): systemd counts it started only
// when READY=1 arrives, so units ordered after crid (kubelet) find the CRI socket serving.
// Without NOTIFY_SOCKET (not under systemd) these do nothing.

// notifyReady says the CRI socket serves.
func notifyReady(log *slog.Logger) { notifySystemd(log, sd.SdNotifyReady) }

// notifyStopping says a shutdown has begun (systemctl shows "deactivating").
func notifyStopping(log *slog.Logger) { notifySystemd(log, sd.SdNotifyStopping) }

func notifySystemd(log *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		log.Warn("systemd notify failed", "state", state, "err", err)
	}
}
