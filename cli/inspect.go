package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// inspected is `crid inspect`'s view of a container: docker's main fields, then the
// runtime's own CRI status of the container and its pod, whole.
type inspected struct {
	ID              string            `json:"Id"`
	Name            string            `json:"Name"`
	Created         string            `json:"Created"`
	Path            string            `json:"Path,omitempty"`
	Args            []string          `json:"Args"`
	State           inspectState      `json:"State"`
	Image           string            `json:"Image"`
	ImageRef        string            `json:"ImageRef"`
	LogPath         string            `json:"LogPath"`
	Ports           []portMapping     `json:"Ports"`
	Network         string            `json:"NetworkMode"`
	IPAddress       string            `json:"IPAddress"`
	Mounts          []inspectMount    `json:"Mounts"`
	Labels          map[string]string `json:"Labels"`
	ContainerID     string            `json:"ContainerID"`
	PodID           string            `json:"PodID"`
	Managed         bool              `json:"Managed"`
	ContainerStatus json.RawMessage   `json:"ContainerStatus"`
	PodStatus       json.RawMessage   `json:"PodStatus"`
	Info            map[string]string `json:"Info,omitempty"`
}

type inspectState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	OOMKilled  bool   `json:"OOMKilled"`
	ExitCode   int32  `json:"ExitCode"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
	Reason     string `json:"Reason,omitempty"`
	Message    string `json:"Message,omitempty"`
}

type inspectMount struct {
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
}

func newInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME|ID...",
		Short: "Return low-level information on containers or images, as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			out := []any{}
			var missing error
			for _, ref := range args {
				v, err := c.inspectOne(ctx, ref)
				if err != nil {
					if errors.Is(err, errUnreachable) {
						return err
					}
					missing = err
					continue
				}
				out = append(out, v)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "    ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			return missing
		},
	}
}

func (c *client) inspectOne(ctx context.Context, ref string) (any, error) {
	e, err := c.lookup(ctx, ref, true, false)
	if errors.Is(err, errNoSuchContainer) {
		resp, ierr := c.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Verbose: true})
		if ierr != nil || resp.GetImage() == nil {
			return nil, fmt.Errorf("no such object: %s", ref)
		}
		return struct {
			Image json.RawMessage   `json:"Image"`
			Info  map[string]string `json:"Info,omitempty"`
		}{protoJSON(resp.GetImage()), resp.GetInfo()}, nil
	}
	if err != nil {
		return nil, err
	}
	v := inspected{ID: e.ID(), Name: "/" + e.Name(), PodID: e.pod.GetId(), Managed: e.managed(), Labels: e.pod.GetLabels()}
	v.Created = time.Unix(0, e.pod.GetCreatedAt()).UTC().Format(time.RFC3339Nano)
	if e.managed() {
		v.Image, v.Ports, v.Network = e.rec.Image, e.rec.Ports, e.rec.Network
		if len(e.rec.Command) > 0 {
			v.Path, v.Args = e.rec.Command[0], e.rec.Command[1:]
		}
	}
	pod, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: e.pod.GetId(), Verbose: true})
	if err == nil {
		v.PodStatus = protoJSON(pod.GetStatus())
		v.IPAddress = pod.GetStatus().GetNetwork().GetIp()
	}
	if e.ctr == nil {
		v.State.Status = "created"
		return v, nil
	}
	resp, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: e.ctr.GetId(), Verbose: true})
	if err != nil {
		return nil, rpcError("container status", err)
	}
	st := resp.GetStatus()
	v.ContainerID, v.ContainerStatus, v.Info = st.GetId(), protoJSON(st), resp.GetInfo()
	v.ImageRef, v.LogPath, v.Labels = st.GetImageRef(), st.GetLogPath(), st.GetLabels()
	if v.Image == "" {
		v.Image = st.GetImage().GetImage()
	}
	v.State = inspectState{
		Status:     stateName(st.GetState()),
		Running:    st.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING,
		OOMKilled:  st.GetReason() == "OOMKilled",
		ExitCode:   st.GetExitCode(),
		StartedAt:  timeOrZero(st.GetStartedAt()),
		FinishedAt: timeOrZero(st.GetFinishedAt()),
		Reason:     st.GetReason(),
		Message:    st.GetMessage(),
	}
	for _, m := range st.GetMounts() {
		v.Mounts = append(v.Mounts, inspectMount{Source: m.GetHostPath(), Destination: m.GetContainerPath(), RW: !m.GetReadonly()})
	}
	return v, nil
}

func stateName(s runtimeapi.ContainerState) string {
	switch s {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return "created"
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return "running"
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return "exited"
	}
	return "unknown"
}

func timeOrZero(ns int64) string {
	if ns == 0 {
		return "0001-01-01T00:00:00Z"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}
