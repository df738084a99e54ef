package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crid-dev/crid/cli"
	"github.com/crid-dev/crid/config"
)

// cliArchive gives the docker-like commands (package cli) crid's image import, export and
// tag for `crid save`, `crid load` and `crid tag`: CRI has no RPC for them.
type cliArchive struct{ flags daemonFlags }

var _ cli.Archive = (*cliArchive)(nil)

func (a *cliArchive) Flags(fs *pflag.FlagSet) {
	d := config.Default()
	fs.StringVar(&a.flags.configPath, "config", config.DefaultPath, "crid's config file (where its root and state are)")
	fs.StringVar(&a.flags.root, "root", d.Root, "crid's root dir")
	fs.StringVar(&a.flags.state, "state", d.State, "crid's state dir (its admin socket)")
}

func (a *cliArchive) Save(cmd *cobra.Command, w io.Writer, refs []string) error {
	cfg, err := a.flags.load(cmd.Flags())
	if err != nil {
		return err
	}
	return exportImages(cmd.Context(), cfg, w, refs)
}

func (a *cliArchive) Load(cmd *cobra.Command, r io.Reader) ([]string, error) {
	cfg, err := a.flags.load(cmd.Flags())
	if err != nil {
		return nil, err
	}
	list, err := importImages(cmd.Context(), cfg, r)
	var lines []string
	for _, img := range list {
		if len(img.RepoTags) == 0 {
			lines = append(lines, img.ID)
		}
		lines = append(lines, strings.Join(img.RepoTags, ", "))
	}
	return lines, err
}

func (a *cliArchive) Tag(cmd *cobra.Command, source, target string) error {
	cfg, err := a.flags.load(cmd.Flags())
	if err != nil {
		return err
	}
	return tagImage(cmd.Context(), cfg, source, target)
}
