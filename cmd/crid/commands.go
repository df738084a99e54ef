package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crid-dev/crid/cli"
	"github.com/crid-dev/crid/config"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "crid",
		Short:         "crid serves the Kubernetes CRI (RuntimeService and ImageService)",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	var flags daemonFlags
	flags.register(root.Flags())
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.load(cmd.Flags())
		if err != nil {
			return err
		}
		return serve(cfg, func() (config.Config, error) { return flags.load(cmd.Flags()) })
	}
	root.AddCommand(newVersionCommand(), newConfigCommand(), newImageCommand(), newCheckCommand())
	root.AddGroup(cli.Group())
	root.AddCommand(cli.Commands(&cliArchive{})...)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print crid's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "crid %s (CRI v1, %s)\n", config.Version, runtime.Version())
		},
	}
}

func newConfigCommand() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Configuration tools"}
	c.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the whole default configuration file, a comment per setting",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), config.DefaultTOML())
		},
	})
	c.AddCommand(newConfigDumpCommand())
	return c
}

// newConfigDumpCommand prints what the daemon would run with given the same flags.
func newConfigDumpCommand() *cobra.Command {
	var flags daemonFlags
	c := &cobra.Command{
		Use:   "dump",
		Short: "Print the effective configuration (files, drop-ins, flags) and where each value came from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := flags.loadWithSources(cmd.Flags())
			if err != nil {
				return err
			}
			out, err := config.Dump(cfg, src)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	}
	flags.register(c.Flags())
	return c
}
