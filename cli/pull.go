package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pullTimeout bounds one PullImage; the runtime has its own no-progress timeout.
const pullTimeout = 30 * time.Minute

// imageStatus returns the runtime's image for ref, nil when it has none.
func (c *client) imageStatus(ctx context.Context, ref string) (*runtimeapi.Image, error) {
	img, _, err := c.imageStatusVerbose(ctx, ref, false)
	return img, err
}

// imageConfig is the part of the verbose ImageStatus info (crid's and containerd's
// "imageSpec") the CLI shows: what the image runs by default.
type imageConfig struct {
	Entrypoint []string `json:"Entrypoint"`
	Cmd        []string `json:"Cmd"`
}

func (c *client) imageStatusVerbose(ctx context.Context, ref string, verbose bool) (*runtimeapi.Image, *imageConfig, error) {
	resp, err := c.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Verbose: verbose})
	if err != nil {
		return nil, nil, rpcError("image status "+ref, err)
	}
	var info struct {
		Spec struct {
			Config imageConfig `json:"config"`
		} `json:"imageSpec"`
	}
	if raw := resp.GetInfo()["info"]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &info) // best effort: only for display
	}
	return resp.GetImage(), &info.Spec.Config, nil
}

// ensureImage returns the image to run and its default command, pulling ref per policy
// (missing, always, never).
func (c *client) ensureImage(ctx context.Context, ref, policy string, w io.Writer, tty bool) (*runtimeapi.Image, *imageConfig, error) {
	if policy != "always" {
		img, cfg, err := c.imageStatusVerbose(ctx, ref, true)
		if err != nil {
			return nil, nil, err
		}
		if img != nil {
			return img, cfg, nil
		}
		if policy == "never" {
			return nil, nil, fmt.Errorf("no such image: %s", ref)
		}
		fmt.Fprintf(w, "Unable to find image '%s' locally\n", ref)
	}
	id, err := c.pull(ctx, ref, w, tty)
	if err != nil {
		return nil, nil, err
	}
	img, cfg, err := c.imageStatusVerbose(ctx, id, true)
	if err == nil && img == nil {
		err = fmt.Errorf("image %s vanished right after its pull", ref)
	}
	return img, cfg, err
}

// pull asks the runtime to pull ref and shows what it can while it does. CRI's PullImage
// has no progress stream, so the byte counts of a docker pull cannot be had from any CRI
// runtime: the layers and their sizes are read from the registry's manifest (when the
// registry answers this client), each shown as pulling, with the time spent, until the
// runtime reports the whole image done.
func (c *client) pull(ctx context.Context, ref string, w io.Writer, tty bool) (string, error) {
	layers := manifestLayers(ctx, ref)
	p := newPullProgress(w, tty, ref, layers)
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	type result struct {
		ref string
		err error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		done <- result{resp.GetImageRef(), err}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				p.fail()
				return "", pullError(ref, r.err)
			}
			p.finish(r.ref)
			return r.ref, nil
		case <-tick.C:
			p.redraw()
		}
	}
}

func pullError(ref string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("unable to find image '%s': pull access denied or repository does not exist", ref)
	}
	return rpcError("pull "+ref, err)
}

// layerInfo is one layer of the manifest the registry serves for this platform.
type layerInfo struct {
	digest string
	size   int64
}

// manifestLayers reads ref's layers from its registry, briefly; nil when the registry
// needs credentials this client does not have or is not reachable from here (the runtime
// may use a mirror).
func manifestLayers(ctx context.Context, ref string) []layerInfo {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		return nil
	}
	m, err := img.Manifest()
	if err != nil {
		return nil
	}
	out := make([]layerInfo, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, layerInfo{digest: l.Digest.Hex, size: l.Size})
	}
	return out
}
