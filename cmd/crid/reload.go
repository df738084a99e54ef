package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"

	"github.com/crid-dev/crid/config"
)

// On SIGHUP crid re-reads its config files (flags still win). What can change live does
// (liveKeys); every other changed key is logged as needing a restart and keeps its running
// value. A file that does not load is refused whole and the running config stays. A reload
// never stops the daemon.

// liveKeys are the settings a reload applies without a restart.
var liveKeys = map[string]bool{
	"log_level":           true,
	"registry_config_dir": true,
	"pinned_images":       true,
	"metrics_listen":      true,
}

// liveApplier changes the running daemon for one live key; an error keeps the old value.
type liveApplier func(cfg config.Config) error

// reloader holds the running config and applies reloads to it.
type reloader struct {
	log   *slog.Logger
	load  func() (config.Config, error)
	apply map[string]liveApplier

	mu  sync.Mutex
	cur config.Config
}

// running returns the configuration the daemon runs with now.
func (r *reloader) running() config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// reload re-reads the configuration and applies what may change live. It returns the keys
// it changed and the keys that need a restart, for tests and the log.
func (r *reloader) reload() (changed, needRestart []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.load()
	if err != nil {
		r.log.Error("config reload refused; the running configuration is kept", "error", err)
		return nil, nil
	}
	cur := reflect.ValueOf(&r.cur).Elem()
	nv := reflect.ValueOf(next)
	for i, key := range config.Keys() {
		if reflect.DeepEqual(cur.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		apply, ok := r.apply[key]
		if !liveKeys[key] || !ok {
			r.log.Warn("config changed; needs a restart to take effect", "key", key,
				"running", cur.Field(i).Interface(), "configured", nv.Field(i).Interface())
			needRestart = append(needRestart, key)
			continue
		}
		trial := r.cur
		reflect.ValueOf(&trial).Elem().Field(i).Set(nv.Field(i))
		if err := apply(trial); err != nil {
			r.log.Error("config reload: could not apply; keeping the running value", "key", key, "error", err)
			continue
		}
		r.cur = trial
		cur = reflect.ValueOf(&r.cur).Elem()
		r.log.Info("config reloaded", "key", key, "value", nv.Field(i).Interface())
		changed = append(changed, key)
	}
	if len(changed) == 0 && len(needRestart) == 0 {
		r.log.Info("config reloaded; nothing changed")
	}
	return changed, needRestart
}

// waitForStop serves until SIGTERM/SIGINT (nil) or the CRI server fails (its error);
// each SIGHUP reloads the configuration.
func waitForStop(sigs, hups <-chan os.Signal, served <-chan error, r *reloader, log *slog.Logger) error {
	for {
		select {
		case <-hups:
			log.Info("SIGHUP: reloading the configuration")
			r.reload()
		case sig := <-sigs:
			log.Info("shutting down", "signal", sig.String())
			return nil
		case err := <-served:
			return fmt.Errorf("CRI server: %w", err)
		}
	}
}

// reloader returns the reloader of this daemon: log level, registry config dir, pinned
// images and the metrics address change live.
func (d *daemon) reloader(cfg config.Config, load func() (config.Config, error), level *slog.LevelVar, metrics *metricsEndpoint) *reloader {
	r := &reloader{log: d.log, load: load, cur: cfg}
	r.apply = map[string]liveApplier{
		"log_level": func(c config.Config) error {
			l, err := config.ParseLogLevel(c.LogLevel)
			if err == nil {
				level.Set(l)
			}
			return err
		},
		"registry_config_dir": func(c config.Config) error {
			d.images.SetRegistryConfigDir(c.RegistryConfigDir)
			return nil
		},
		"pinned_images":  func(c config.Config) error { return d.images.SetPinned(c.PinnedImages) },
		"metrics_listen": func(c config.Config) error { return metrics.set(c.MetricsListen) },
	}
	d.running = r.running
	return r
}
