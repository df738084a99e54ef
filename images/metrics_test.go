package images

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crid-dev/crid/hack/testimages"
)

// TestPullMetrics: a pull counts once with its duration and bytes; a failed one also
// counts under its reason.
func TestPullMetrics(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	push(t, reg, "m/ok:1", must[v1.Image](t)(testimages.Busybox()))
	e := newEnv(t, nil)
	pulls, notFound, bytes := testutil.ToFloat64(pullsTotal), testutil.ToFloat64(pullFailures.WithLabelValues("NotFound")), testutil.ToFloat64(pullBytes)

	e.pull(t, reg.Ref("m/ok:1"))
	if _, err := e.svc.Pull(context.Background(), reg.Ref("m/missing:1"), nil); err == nil {
		t.Fatal("pull of a missing image succeeded")
	}
	if got := testutil.ToFloat64(pullsTotal) - pulls; got != 2 {
		t.Errorf("pulls counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(pullFailures.WithLabelValues("NotFound")) - notFound; got != 1 {
		t.Errorf("NotFound failures counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(pullBytes) - bytes; got < 1<<20 {
		t.Errorf("pulled bytes %v, want the busybox layer's", got)
	}
}
