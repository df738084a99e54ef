package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
)

func newSaveCommand(a Archive) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE...",
		Short: "Save images to a tar archive (docker-save format; crid only)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) (err error) {
			if output == "" || output == "-" {
				if isTerminalWriter(cmd.OutOrStdout()) {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
				return a.Save(cmd, cmd.OutOrStdout(), refs)
			}
			// Written aside and renamed on success: a failed save leaves no truncated file.
			f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			defer f.Close()
			if err := a.Save(cmd, f, refs); err != nil {
				return err
			}
			if err := f.Chmod(0o644); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			return os.Rename(f.Name(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of stdout")
	a.Flags(cmd.Flags())
	return cmd
}

func newLoadCommand(a Archive) *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a tar archive (docker-save or OCI layout; crid only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := cmd.InOrStdin()
			if input != "" && input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			lines, err := a.Load(cmd, in)
			if err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), "Loaded image:", l)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from a tar archive file instead of stdin")
	a.Flags(cmd.Flags())
	return cmd
}

// newTagCommand adds a name to an image. CRI has no tag RPC; crid's store adds the name
// to the image record, reading and copying nothing of the image.
func newTagCommand(a Archive) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag SOURCE_IMAGE TARGET_IMAGE",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE (crid only)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// docker's wording for what is no tag at all; the store checks the rest.
			if _, err := name.NewTag(args[1]); err != nil {
				return fmt.Errorf("invalid reference format: %s", args[1])
			}
			return a.Tag(cmd, args[0], args[1])
		},
	}
	a.Flags(cmd.Flags())
	return cmd
}
