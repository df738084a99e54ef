package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// psRow is one line of `crid ps`, with docker's field names for --format.
type psRow struct {
	ID         string            `json:"ID"`
	Image      string            `json:"Image"`
	Command    string            `json:"Command"`
	CreatedAt  string            `json:"CreatedAt"`
	RunningFor string            `json:"RunningFor"`
	Status     string            `json:"Status"`
	State      string            `json:"State"`
	Ports      string            `json:"Ports"`
	Names      string            `json:"Names"`
	PodID      string            `json:"PodID"`
	Container  string            `json:"ContainerID"`
	Managed    bool              `json:"Managed"`
	ExitCode   int32             `json:"ExitCode"`
	Labels     map[string]string `json:"Labels"`
}

type psOptions struct {
	all, quiet, noTrunc, allNamespaces bool
	filters                            []string
	format                             string
}

func newPsCommand(g *globals) *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			match, err := parseFilters(o.filters)
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := c.psRows(cmd.Context(), o.allNamespaces)
			if err != nil {
				return err
			}
			var shown []psRow
			for _, r := range rows {
				if (o.all || r.State == "running") && match(r) {
					shown = append(shown, r)
				}
			}
			return printPs(cmd.OutOrStdout(), shown, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "filter: name=, id=, status=(created|running|exited), label=K[=V], ancestor=IMAGE")
	f.StringVar(&o.format, "format", "table", "table, json (one object per line) or a Go template such as {{.Names}}")
	addAllNamespaces(cmd, &o.allNamespaces)
	return cmd
}

func (c *client) psRows(ctx context.Context, all bool) ([]psRow, error) {
	list, err := c.listEntries(ctx, all)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rows := make([]psRow, 0, len(list))
	for _, e := range list {
		r := psRow{ID: e.ID(), Names: e.Name(), PodID: e.pod.GetId(), Managed: e.managed(), State: "created", Status: "Created"}
		created := time.Unix(0, createdAt(e))
		r.CreatedAt = created.Format("2006-01-02 15:04:05 -0700 MST")
		r.RunningFor = units.HumanDuration(now.Sub(created)) + " ago"
		if e.managed() {
			r.Image = e.rec.Image
			r.Command = quoteCommand(e.rec.Command)
			var ports []string
			for _, p := range e.rec.Ports {
				ports = append(ports, p.String())
			}
			r.Ports = strings.Join(ports, ", ")
		} else if e.ctr != nil {
			r.Image = e.ctr.GetImage().GetUserSpecifiedImage()
			if r.Image == "" {
				r.Image = e.ctr.GetImage().GetImage()
			}
		}
		r.Labels = e.pod.GetLabels()
		if e.ctr != nil {
			r.Labels = e.ctr.GetLabels()
			r.Container = e.ctr.GetId()
			c.fillState(ctx, &r, e.ctr, now)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// fillState reads the times and exit code ListContainers does not carry.
func (c *client) fillState(ctx context.Context, r *psRow, ctr *runtimeapi.Container, now time.Time) {
	switch ctr.GetState() {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		r.State, r.Status = "running", "Up"
	default:
		r.State, r.Status = "exited", "Exited"
	}
	st, err := c.containerStatus(ctx, ctr.GetId())
	if err != nil {
		return // removed meanwhile: the row keeps what the list said
	}
	if r.State == "running" {
		r.Status = "Up " + units.HumanDuration(now.Sub(time.Unix(0, st.GetStartedAt())))
		return
	}
	r.ExitCode = st.GetExitCode()
	r.Status = fmt.Sprintf("Exited (%d) %s ago", st.GetExitCode(), units.HumanDuration(now.Sub(time.Unix(0, st.GetFinishedAt()))))
}

func quoteCommand(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return strconv.Quote(strings.Join(argv, " "))
}

// parseFilters turns docker's --filter key=value list into one predicate (all must hold;
// repeated keys of the same name are alternatives, as in docker).
func parseFilters(in []string) (func(psRow) bool, error) {
	by := map[string][]string{}
	for _, f := range in {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", f)
		}
		switch k {
		case "name", "id", "status", "label", "ancestor":
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		by[k] = append(by[k], v)
	}
	test := func(k string, r psRow, v string) bool {
		switch k {
		case "name":
			return strings.Contains(r.Names, v)
		case "id":
			return strings.HasPrefix(r.ID, v) || strings.HasPrefix(r.Container, v)
		case "status":
			return r.State == v
		case "ancestor":
			return r.Image == v || strings.HasPrefix(r.Image, v+":")
		}
		return false
	}
	return func(r psRow) bool {
		for k, vs := range by {
			ok := false
			for _, v := range vs {
				if k == "label" {
					lk, lv, hasValue := strings.Cut(v, "=")
					got, has := r.Labels[lk]
					ok = ok || (has && (!hasValue || got == lv))
					continue
				}
				ok = ok || test(k, r, v)
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

func printPs(w io.Writer, rows []psRow, o psOptions) error {
	trunc := func(s string, n int) string {
		if o.noTrunc || len(s) <= n {
			return s
		}
		return s[:n-1] + "…"
	}
	switch {
	case o.quiet:
		for _, r := range rows {
			if o.noTrunc {
				fmt.Fprintln(w, r.ID)
			} else {
				fmt.Fprintln(w, short(r.ID))
			}
		}
		return nil
	case o.format == "json":
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case o.format == "table" || o.format == "":
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		for _, r := range rows {
			id := r.ID
			if !o.noTrunc {
				id = short(id)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, r.Image, trunc(r.Command, 20), r.RunningFor, r.Status, r.Ports, r.Names)
		}
		return tw.Flush()
	}
	tmpl, err := template.New("format").Parse(strings.TrimPrefix(o.format, "table "))
	if err != nil {
		return fmt.Errorf("invalid --format: %w", err)
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}
