package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newCheckCommand is `crid check`: can this host run crid, with this configuration?
func newCheckCommand() *cobra.Command {
	var flags daemonFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Report whether this host can run crid: one line per check, OK/WARN/FAIL, the reason and what to do",
		Long: "Checks the kernel, namespaces, cgroups, overlayfs, idmapped mounts, seccomp, AppArmor/SELinux,\n" +
			"user namespaces, pids, the CNI config and plugins, the root, state and socket dirs, the binaries\n" +
			"of external runtime handlers and whether crid already runs, for the configuration the same flags and files give the daemon.\n" +
			"Exits non-zero when something crid needs is missing (a FAIL).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load(cmd.Flags())
			if err != nil {
				return err
			}
			monitor, _ := findMonitor(cfg.MonitorPath)
			findings := checkHost(realHostEnv(monitor), cfg)
			if err := printFindings(cmd.OutOrStdout(), findings, asJSON); err != nil {
				return err
			}
			return failedChecks(findings)
		},
	}
	flags.register(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print the findings as a JSON array")
	return c
}

func printFindings(w io.Writer, findings []finding, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(findings)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range findings {
		line := fmt.Sprintf("%s\t%s\t%s", f.Status, f.Check, f.Detail)
		if f.Fix != "" {
			line += " — fix: " + f.Fix
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// failedChecks is the command's error when a check failed.
func failedChecks(findings []finding) error {
	n := 0
	for _, f := range findings {
		if f.Status == checkFail {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d check(s) failed: this host cannot run crid as configured", n)
	}
	return nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
