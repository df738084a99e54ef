package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func newPullCommand(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			if quiet {
				resp, err := c.is.PullImage(cmd.Context(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: args[0]}})
				if err != nil {
					return pullError(args[0], err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), resp.GetImageRef())
				return nil
			}
			_, err = c.pull(cmd.Context(), args[0], cmd.OutOrStdout(), isTerminalWriter(cmd.OutOrStdout()))
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
	return cmd
}

func newImagesCommand(g *globals) *cobra.Command {
	var quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:   "images [OPTIONS]",
		Short: "List images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.is.ListImages(cmd.Context(), &runtimeapi.ListImagesRequest{})
			if err != nil {
				return rpcError("list images", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE")
			}
			for _, img := range resp.GetImages() {
				id := img.GetId()
				if !noTrunc {
					id = short(id)
				}
				if quiet {
					fmt.Fprintln(tw, id)
					continue
				}
				size := units.HumanSizeWithPrecision(float64(img.GetSize()), 3)
				tags := img.GetRepoTags()
				if len(tags) == 0 {
					fmt.Fprintf(tw, "<none>\t<none>\t%s\t%s\n", id, size)
				}
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t[:i], t[i+1:], id, size)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

func newRmiCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE...",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var failed error
			for _, ref := range args {
				if err := c.removeImage(cmd, ref, force); err != nil {
					if len(args) == 1 || errors.Is(err, errUnreachable) {
						return err
					}
					fmt.Fprintln(os.Stderr, "Error response from runtime:", err)
					failed = errors.New("not all images were removed")
				}
			}
			return failed
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the image even if a container uses it")
	return cmd
}

// removeImage refuses, as docker does, an image a container (running or not) was made
// from, unless forced.
func (c *client) removeImage(cmd *cobra.Command, ref string, force bool) error {
	ctx := cmd.Context()
	img, err := c.imageStatus(ctx, ref)
	if err != nil {
		return err
	}
	if img == nil {
		return fmt.Errorf("no such image: %s", ref)
	}
	if !force {
		ctrs, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			return rpcError("list containers", err)
		}
		for _, ctr := range ctrs.GetContainers() {
			if ctr.GetImageRef() == img.GetId() || ctr.GetImage().GetImage() == img.GetId() {
				return fmt.Errorf("conflict: unable to remove repository reference %q - container %s is using its referenced image %s",
					ref, short(ctr.GetPodSandboxId()), short(img.GetId()))
			}
		}
	}
	if _, err := c.is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.GetId()}}); err != nil {
		return rpcError("remove image", err)
	}
	for _, t := range img.GetRepoTags() {
		fmt.Fprintln(cmd.OutOrStdout(), "Untagged:", t)
	}
	fmt.Fprintln(cmd.OutOrStdout(), "Deleted:", img.GetId())
	return nil
}
