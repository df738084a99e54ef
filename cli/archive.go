package cli

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// newTagCommand adds a name to an image. CRI has no tag RPC, so the image goes out
// through crid's export and back in through its import under the new name: blobs and
// snapshots are content-addressed, so nothing is stored twice.
func newTagCommand(a Archive) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag SOURCE_IMAGE TARGET_IMAGE",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE (crid only)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := name.NewTag(args[1])
			if err != nil {
				return fmt.Errorf("invalid reference format: %s", args[1])
			}
			pr, pw := io.Pipe()
			saved := make(chan error, 1)
			go func() {
				err := a.Save(cmd, pw, args[:1])
				pw.CloseWithError(err)
				saved <- err
			}()
			retagged, rw := io.Pipe()
			go func() { rw.CloseWithError(retag(pr, rw, target.Name())) }()
			_, err = a.Load(cmd, retagged)
			retagged.CloseWithError(io.ErrClosedPipe)
			pr.CloseWithError(io.ErrClosedPipe)
			if serr := <-saved; serr != nil {
				return serr
			}
			return err
		},
	}
	a.Flags(cmd.Flags())
	return cmd
}

// retag copies a docker-save archive, replacing the names in its manifest.json with tag
// (the `repositories` file, a legacy duplicate of the names, is dropped).
func retag(in io.Reader, out io.Writer, tag string) error {
	tr := tar.NewReader(in)
	tw := tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		switch h.Name {
		case "repositories":
			continue
		case "manifest.json":
			var m []map[string]any
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&m); err != nil {
				return fmt.Errorf("archive manifest.json: %w", err)
			}
			if len(m) != 1 {
				return fmt.Errorf("archive holds %d images, want 1", len(m))
			}
			m[0]["RepoTags"] = []string{tag}
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			h.Size = int64(len(b))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil { //nolint:gosec // a tar entry copied as is, nothing decompressed
			return err
		}
	}
}
