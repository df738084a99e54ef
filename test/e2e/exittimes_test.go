package e2e

import (
	"fmt"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExitTimesOrdered: a container that exits at once still finishes after it started.
func TestExitTimesOrdered(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "exittimes")
	podID := d.runPod(t, pod)
	for i := range 5 {
		id := d.runContainer(t, podID, pod, containerConfig(fmt.Sprint("quick", i), testImage(t, d), "true"))
		st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
		if st.FinishedAt < st.StartedAt || st.StartedAt < st.CreatedAt {
			t.Errorf("container %d: createdAt %d startedAt %d finishedAt %d: out of order", i, st.CreatedAt, st.StartedAt, st.FinishedAt)
		}
	}
}
