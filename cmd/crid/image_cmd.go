package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/images"
)

// `crid image ...` works with a running daemon (through its admin socket) or, when none
// runs on that root, directly on the image store.
func newImageCommand() *cobra.Command {
	var flags daemonFlags
	c := &cobra.Command{Use: "image", Short: "Import, export and list images (offline path)"}
	flags.register(c.PersistentFlags())
	load := func(cmd *cobra.Command) (config.Config, error) { return flags.load(cmd.Flags()) }

	c.AddCommand(&cobra.Command{
		Use:   "import FILE",
		Short: "Import an OCI image-layout or docker-save archive ('-' reads stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			in := os.Stdin
			if args[0] != "-" {
				if in, err = os.Open(args[0]); err != nil {
					return err
				}
				defer in.Close()
			}
			list, err := importImages(cmd.Context(), cfg, in)
			if err != nil {
				return err
			}
			for _, img := range list {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s %s\n", img.ID, strings.Join(img.RepoTags, ","))
			}
			return nil
		},
	})

	var output string
	export := &cobra.Command{
		Use:   "export -o FILE REF...",
		Short: "Export images as a docker-save archive",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, refs []string) (err error) {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "" && output != "-" {
				// Written aside and renamed on success, so a failed export (unknown ref, a
				// daemon cutting the stream) never leaves a truncated archive under FILE.
				f, cerr := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
				if cerr != nil {
					return cerr
				}
				defer os.Remove(f.Name())
				defer f.Close()
				out = f
				defer func() {
					if err == nil {
						err = commitFile(f, output)
					}
				}()
			}
			return exportImages(cmd.Context(), cfg, out, refs)
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "", "archive to write (default stdout)")
	c.AddCommand(export)

	c.AddCommand(&cobra.Command{
		Use:   "ls",
		Short: "List images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cmd)
			if err != nil {
				return err
			}
			var list []imageSummary
			err = withImages(cfg, func(c *http.Client) error {
				resp, err := c.Get("http://crid/images")
				return decode(resp, err, &list)
			}, func(s *images.Service) error {
				list = summarize(s.List())
				return nil
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE ID\tTAGS\tSIZE\tPINNED")
			for _, img := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%v\n", shortID(img.ID), strings.Join(img.RepoTags, ","), img.Size, img.Pinned)
			}
			return tw.Flush()
		},
	})
	return c
}

// importImages imports an archive through the daemon or into the store.
func importImages(ctx context.Context, cfg config.Config, in io.Reader) ([]imageSummary, error) {
	var list []imageSummary
	err := withImages(cfg, func(c *http.Client) error {
		resp, err := c.Post("http://crid/images/import", "application/x-tar", in)
		return decode(resp, err, &list)
	}, func(s *images.Service) error {
		imported, err := s.Import(ctx, in)
		list = summarize(imported)
		return err
	})
	return list, err
}

// exportImages writes refs as one docker-save archive, through the daemon or from the store.
func exportImages(ctx context.Context, cfg config.Config, out io.Writer, refs []string) error {
	return withImages(cfg, func(c *http.Client) error {
		q := url.Values{"ref": refs}
		resp, err := c.Get("http://crid/images/export?" + q.Encode())
		if err := httpError(resp, err); err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(out, resp.Body)
		return err
	}, func(s *images.Service) error {
		return s.Export(ctx, out, refs)
	})
}

// tagImage names the image source also target, through the daemon or in the store.
func tagImage(ctx context.Context, cfg config.Config, source, target string) error {
	return withImages(cfg, func(c *http.Client) error {
		q := url.Values{"source": {source}, "target": {target}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://crid/images/tag?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err := httpError(resp, err); err != nil {
			return err
		}
		return resp.Body.Close()
	}, func(s *images.Service) error {
		return s.Tag(ctx, source, target)
	})
}

// withImages runs viaDaemon when a daemon answers on the state dir's admin socket, else
// opens the store itself (holding the root lock so no daemon starts meanwhile).
func withImages(cfg config.Config, viaDaemon func(*http.Client) error, direct func(*images.Service) error) error {
	sock := filepath.Join(cfg.State, adminSocketName)
	if conn, err := net.Dial("unix", sock); err == nil {
		conn.Close()
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		return viaDaemon(c)
	}
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return err
	}
	defer lock.Close()
	s, err := images.Open(imagesConfig(cfg))
	if err != nil {
		return err
	}
	defer s.Close()
	return direct(s)
}

// commitFile makes the finished temp file f durable and moves it to path.
func commitFile(f *os.File, path string) error {
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func httpError(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return errors.New(strings.TrimSpace(string(body)))
	}
	return nil
}

func decode(resp *http.Response, err error, v any) error {
	if err := httpError(resp, err); err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
