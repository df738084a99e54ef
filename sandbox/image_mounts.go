package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// Image volumes (CRI Mount.image, KEP-4639): the image's layers are made available as a
// read-only overlay (lower dirs only, no upper) mounted on the host under the container's
// dir, and the CRI mount is rewritten into a read-only bind of that dir, which the spec
// already knows how to make. With image_sub_path the overlay is made of each layer's copy
// of that sub path (resolved inside the layer, so a symlink cannot leave it); a whiteout
// of the sub path itself in an upper layer is not honoured, which is the documented limit.

func imageMountPath(c *Container, i int) string {
	return filepath.Join(c.Dir, "image-mounts", fmt.Sprint(i))
}

// imageMounts returns cfg with image mounts turned into host binds, or cfg itself when it
// has none. The snapshots taken are recorded in c.ExtraRootfs before they are made.
func (m *Manager) imageMounts(ctx context.Context, c *Container, cfg *runtimeapi.ContainerConfig) (*runtimeapi.ContainerConfig, error) {
	has := false
	for _, mnt := range cfg.Mounts {
		has = has || mnt.Image.GetImage() != ""
	}
	if !has {
		return cfg, nil
	}
	out := proto.Clone(cfg).(*runtimeapi.ContainerConfig)
	for i, mnt := range out.Mounts {
		ref := mnt.Image.GetImage()
		if ref == "" {
			continue
		}
		field := fmt.Sprintf("config.mounts[%d].image", i)
		img, err := m.deps.Images.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", field, ref, err)
		}
		rid := fmt.Sprintf("%s-image-mount-%d", c.ID, len(c.ExtraRootfs))
		c.ExtraRootfs = append(c.ExtraRootfs, rid)
		if err := m.store.putContainer(c); err != nil {
			return nil, err
		}
		rfs, err := m.deps.Images.PrepareRootfs(ctx, rid, img.ID)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", field, ref, err)
		}
		lowers := rfs.LowerDirs
		if sub := mnt.ImageSubPath; sub != "" {
			lowers = nil
			for _, l := range rfs.LowerDirs {
				p, err := securejoin.SecureJoin(l, sub)
				if err != nil {
					return nil, fmt.Errorf("config.mounts[%d].image_sub_path %q: %v: %w", i, sub, err, errdefs.ErrInvalidArgument)
				}
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					lowers = append(lowers, p)
				}
			}
			if len(lowers) == 0 {
				return nil, fmt.Errorf("config.mounts[%d].image_sub_path %q: no such directory in image %s: %w", i, sub, ref, errdefs.ErrNotFound)
			}
		}
		target := imageMountPath(c, len(c.ExtraRootfs)-1)
		if err := m.deps.Mounter.MountOverlayRO(lowers, target); err != nil {
			return nil, fmt.Errorf("%s %q: %w", field, ref, err)
		}
		mnt.HostPath, mnt.Readonly, mnt.Image, mnt.ImageSubPath = target, true, nil, ""
	}
	return out, nil
}
