package sandboxtest

import (
	"errors"
	"fmt"
	"sync"
)

// Failures names steps that should fail ("netns", "setup", "monitor-start", "pod-spec",
// "infra", "prepare-rootfs", "container-spec", "create", "start", ...).
type Failures struct {
	mu sync.Mutex
	m  map[string]error
}

// Set makes step fail with err (nil clears it).
func (f *Failures) Set(step string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]error{}
	}
	if err == nil {
		delete(f.m, step)
	} else {
		f.m[step] = err
	}
}

// ErrPanic set for a step makes it panic instead of failing, as a bug would.
var ErrPanic = errors.New("sandboxtest: injected panic")

func (f *Failures) check(step string) error {
	f.mu.Lock()
	err := f.m[step]
	f.mu.Unlock()
	if errors.Is(err, ErrPanic) {
		panic(fmt.Sprintf("sandboxtest: injected panic at %s", step))
	}
	return err
}
