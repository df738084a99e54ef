package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/crid-dev/crid/apparmor"
)

// appArmorState is what crid knows of AppArmor on this node, found once at
// start, and whether a RuntimeDefault request has had to run unconfined.
type appArmorState struct {
	log            *slog.Logger
	enabled        bool
	defaultProfile string // loaded; "" if AppArmor is off or loading failed
	loadError      string
	skipOnce       sync.Once
	skipped        atomic.Bool
}

// setupAppArmor loads crid's RuntimeDefault profile where the kernel enforces
// AppArmor (replacing nothing: the profile's name carries its text's hash).
// Failing to load it is logged and leaves RuntimeDefault refused, never
// silently unconfined.
func setupAppArmor(ctx context.Context, log *slog.Logger) *appArmorState {
	s := &appArmorState{log: log, enabled: apparmor.Enabled()}
	if !s.enabled {
		log.Info("AppArmor is not enabled in this kernel: containers run without AppArmor confinement")
		return s
	}
	p := apparmor.DefaultProfile()
	if err := apparmor.EnsureLoaded(ctx, p); err != nil {
		s.loadError = err.Error()
		log.Error("AppArmor RuntimeDefault profile could not be loaded: containers asking for it are refused", "profile", p.Name, "error", err)
		return s
	}
	s.defaultProfile = p.Name
	log.Info("AppArmor RuntimeDefault profile loaded", "profile", p.Name)
	return s
}

// runtimeDefaultSkipped is spec.Host.AppArmorSkipped: said once in the log,
// and for good in the verbose status.
func (s *appArmorState) runtimeDefaultSkipped(profile string) {
	s.skipped.Store(true)
	s.skipOnce.Do(func() {
		s.log.Warn("a container asked for an AppArmor profile but this kernel has no AppArmor: it runs unconfined", "profile", profile)
	})
}

// info is the verbose Status entry.
func (s *appArmorState) info() map[string]any {
	if s == nil {
		return nil
	}
	return map[string]any{
		"enabled":                  s.enabled,
		"defaultProfile":           s.defaultProfile,
		"loadError":                s.loadError,
		"runtimeDefaultUnconfined": s.skipped.Load(),
	}
}
