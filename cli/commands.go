package cli

import (
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Archive is what `crid save`, `crid load` and `crid tag` need and CRI has no RPC for:
// crid's own image import and export (docker-save archives) and tag. The crid binary
// provides it through its admin socket, or on the store itself when no daemon runs; against
// another runtime these commands are not available.
type Archive interface {
	// Flags registers what finding the store needs (crid's --root, --state, --config).
	Flags(fs *pflag.FlagSet)
	// Save writes the images refs name as one docker-save archive.
	Save(cmd *cobra.Command, w io.Writer, refs []string) error
	// Load imports an archive and returns the images' IDs and tags, one line each.
	Load(cmd *cobra.Command, r io.Reader) ([]string, error)
	// Tag names the image source (reference, ID or short ID) also target, a tag.
	Tag(cmd *cobra.Command, source, target string) error
}

// Commands returns the docker-like commands; archive may be nil (no save/load/tag).
func Commands(archive Archive) []*cobra.Command {
	g := &globals{}
	cmds := []*cobra.Command{
		newRunCommand(g), newPsCommand(g), newLogsCommand(g), newExecCommand(g),
		newStopCommand(g), newStartCommand(g), newRestartCommand(g), newRmCommand(g),
		newInspectCommand(g), newStatsCommand(g), newTopCommand(g), newPortCommand(g),
		newPullCommand(g), newImagesCommand(g), newRmiCommand(g),
	}
	if archive != nil {
		cmds = append(cmds, newSaveCommand(archive), newLoadCommand(archive), newTagCommand(archive))
	}
	for _, c := range cmds {
		c.GroupID = groupID
		if c.Name() != "save" && c.Name() != "load" && c.Name() != "tag" {
			c.Flags().StringVar(&g.endpoint, "runtime-endpoint", defaultEndpoint(), "CRI runtime endpoint (unix socket); env "+endpointEnv)
		}
	}
	return cmds
}

// groupID groups these commands in `crid --help`.
const groupID = "docker"

// Group is the help group the commands belong to; the caller adds it to the root.
func Group() *cobra.Group {
	return &cobra.Group{ID: groupID, Title: "Container commands (docker-like, over CRI):"}
}

// globals are the flags every command shares.
type globals struct {
	endpoint string
}

func (g *globals) dial() (*client, error) { return dial(g.endpoint) }
