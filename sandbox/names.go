package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kubelet gives RunPodSandbox and CreateContainer a deadline and, when it passes, retries
// with the same name while the first call is still working. The retry must get the first
// call's result, not "name is reserved" (CRI-O's resourcestore, containerd #12438). So a
// name being created has a reservation that later callers wait on; a result whose caller
// has gone (its context ended) is kept until a retry claims it.

// The keys quote each field (strconv.Quote escapes any quote or separator inside it), so
// two different metadata tuples never share a key: joined with a bare "_", pod "a_b" in
// namespace "c" and pod "a" in namespace "b_c" did, and a retry of one got the other's id.

func podKey(md *runtimeapi.PodSandboxMetadata) string {
	return strconv.Quote(md.GetName()) + " " + strconv.Quote(md.GetNamespace()) + " " +
		strconv.Quote(md.GetUid()) + " " + strconv.FormatUint(uint64(md.GetAttempt()), 10)
}

func containerKey(podID string, md *runtimeapi.ContainerMetadata) string {
	return strconv.Quote(podID) + " " + strconv.Quote(md.GetName()) + " " + strconv.FormatUint(uint64(md.GetAttempt()), 10)
}

type reservation struct {
	done chan struct{}
	id   string
	err  error
	// unclaimed: finished after its caller gave up; the next caller gets id.
	unclaimed bool
}

type reservations struct {
	mu sync.Mutex
	m  map[string]*reservation
}

func newReservations() *reservations { return &reservations{m: map[string]*reservation{}} }

// do runs create under the name key unless a call for that key is in flight or finished
// unclaimed, in which case it returns that call's result. create runs with a context that
// is not cancelled when ctx is: the work finishes (or rolls back) even if the caller left.
func (r *reservations) do(ctx context.Context, key string, create func(context.Context) (string, error)) (string, error) {
	for {
		r.mu.Lock()
		res, ok := r.m[key]
		if !ok {
			res = &reservation{done: make(chan struct{})}
			r.m[key] = res
			r.mu.Unlock()
			return r.run(ctx, key, res, create)
		}
		if res.unclaimed {
			delete(r.m, key)
			r.mu.Unlock()
			return res.id, nil
		}
		r.mu.Unlock()
		select {
		case <-res.done:
			if res.err == nil {
				// This caller waited for the in-flight call: the same result is
				// what it asked for. Clear the unclaimed mark the finisher may set.
				r.mu.Lock()
				if cur := r.m[key]; cur == res {
					delete(r.m, key)
				}
				r.mu.Unlock()
				return res.id, nil
			}
			// The first attempt failed and rolled back: try again ourselves.
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for the in-flight request with the same name: %w", ctx.Err())
		}
	}
}

func (r *reservations) run(ctx context.Context, key string, res *reservation, create func(context.Context) (string, error)) (string, error) {
	finished := false
	defer func() {
		if !finished {
			// create panicked (the RPC wrapper turns that into Internal): free the name,
			// or every retry would wait on a reservation that never ends.
			r.mu.Lock()
			res.err = errors.New("the request with the same name failed")
			delete(r.m, key)
			close(res.done)
			r.mu.Unlock()
		}
	}()
	id, err := create(context.WithoutCancel(ctx))
	finished = true
	r.mu.Lock()
	res.id, res.err = id, err
	if err == nil && ctx.Err() != nil {
		res.unclaimed = true // the caller is gone; keep the result for its retry
	} else {
		delete(r.m, key)
	}
	close(res.done)
	r.mu.Unlock()
	return id, err
}

// forget drops an unclaimed result for a key whose object was removed.
func (r *reservations) forget(key string) {
	r.mu.Lock()
	if res, ok := r.m[key]; ok && res.unclaimed {
		delete(r.m, key)
	}
	r.mu.Unlock()
}
