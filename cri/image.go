package cri

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/images"
)

// ListImages lists every image, or those matching filter.image.
func (s *Server) ListImages(_ context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	list, err := s.listImages(req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListImagesResponse{Images: list}, nil
}

// StreamImages is ListImages in chunks, for nodes with more images than one message holds.
func (s *Server) StreamImages(req *runtimeapi.StreamImagesRequest, stream runtimeapi.ImageService_StreamImagesServer) error {
	list, err := s.listImages(req.GetFilter())
	if err != nil {
		return err
	}
	return sendChunks(len(list), func(lo, hi int) error {
		return stream.Send(&runtimeapi.StreamImagesResponse{Images: list[lo:hi]})
	})
}

func (s *Server) listImages(filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	var list []*images.Image
	if ref := filter.GetImage().GetImage(); ref != "" {
		img, err := s.Images.Resolve(ref)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
		if img != nil {
			list = append(list, img)
		}
	} else {
		list = s.Images.List()
	}
	out := make([]*runtimeapi.Image, 0, len(list))
	for _, img := range list {
		out = append(out, toCRIImage(img))
	}
	return out, nil
}

// ImageStatus returns the image, or no image (and no error) when it is not present, as
// kubelet expects; verbose adds the image config.
func (s *Server) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image", "is required")
	}
	img, err := s.Images.Resolve(ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: toCRIImage(img)}
	if req.GetVerbose() {
		info, err := json.Marshal(struct {
			ID      string `json:"id"`
			ChainID string `json:"chainID"`
			Config  any    `json:"imageSpec"`
		}{img.ID, img.ChainID, img.Config})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// PullImage pulls with the request's credentials and returns the image id as image_ref,
// the value kubelet then passes back in CreateContainer.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image", "is required")
	}
	var auth *images.Auth
	if a := req.GetAuth(); a != nil {
		auth = &images.Auth{
			Username:      a.Username,
			Password:      a.Password,
			Auth:          a.Auth,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
	}
	img, err := s.Images.Pull(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

// RemoveImage removes by id, tag or digest; removing an absent image succeeds.
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image", "is required")
	}
	if err := s.Images.Remove(ctx, ref); err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the real usage of the image store and of the writable layers (as
// the background collector last measured them).
func (s *Server) ImageFsInfo(_ context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	imageFs, err := s.Images.ImageFsUsage()
	if err != nil {
		return nil, err
	}
	// The writable layers' usage is the sum of the background collector's samples: a walk
	// of every container's layer per call would cost a stat per file of the node.
	containerFs := images.FsUsage{Mountpoint: s.Images.ContainersDir()}
	containerFs.UsedBytes, containerFs.InodesUsed = s.Sandbox.WritableLayersUsage()
	now := time.Now().UnixNano()
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{toFsUsage(imageFs, now)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{toFsUsage(containerFs, now)},
	}, nil
}

func toFsUsage(u images.FsUsage, now int64) *runtimeapi.FilesystemUsage {
	return &runtimeapi.FilesystemUsage{
		Timestamp:  now,
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: u.Mountpoint},
		UsedBytes:  &runtimeapi.UInt64Value{Value: u.UsedBytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: u.InodesUsed},
	}
}

func toCRIImage(img *images.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
		Pinned:      img.Pinned,
	}
	uid, name := imageUser(img.Config.Config.User)
	if uid != nil {
		out.Uid = &runtimeapi.Int64Value{Value: *uid}
	}
	out.Username = name
	return out
}

// imageUser splits an image USER ("1000", "1000:1000", "nginx", "nginx:www") into the
// numeric uid or the user name kubelet wants for runAsNonRoot checks.
func imageUser(user string) (*int64, string) {
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		return nil, ""
	}
	if n, err := strconv.ParseInt(u, 10, 64); err == nil {
		return &n, ""
	}
	return nil, u
}
