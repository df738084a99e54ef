package sandbox

import (
	"fmt"
	"strings"
	"sync"

	"github.com/crid-dev/crid/errdefs"
)

// index holds the pods or the containers of the node by id and by name key. Its lock
// guards only the maps: it is held for map reads and writes, never during slow work.
type index[E entry] struct {
	kind   string // "pod sandbox" or "container", for errors
	mu     sync.RWMutex
	byID   map[string]E
	byName map[string]string // name key -> id
}

// entry is a pod or container entry: an id and an op lock serialising its slow
// operations.
type entry interface {
	comparable
	id() string
	lockOp() (unlock func())
}

func newIndex[E entry](kind string) *index[E] {
	return &index[E]{kind: kind, byID: map[string]E{}, byName: map[string]string{}}
}

// get returns the entry of exactly id; ok is false when there is none (any more).
func (x *index[E]) get(id string) (e E, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok = x.byID[id]
	return e, ok
}

// named returns the id holding name key, if any, and its entry.
func (x *index[E]) named(key string) (id string, e E, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if id, ok = x.byName[key]; ok {
		e = x.byID[id]
	}
	return id, e, ok
}

// lookup finds id, or the one id that id is a unique prefix of (CRI clients may
// shorten ids).
func (x *index[E]) lookup(id string) (E, error) {
	var found E
	if id == "" {
		return found, fmt.Errorf("%s id: empty: %w", x.kind, errdefs.ErrInvalidArgument)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e, ok := x.byID[id]; ok {
		return e, nil
	}
	n := 0
	for full, e := range x.byID {
		if strings.HasPrefix(full, id) {
			found, n = e, n+1
		}
	}
	switch n {
	case 0:
		return found, fmt.Errorf("%s %q: %w", x.kind, id, errdefs.ErrNotFound)
	case 1:
		return found, nil
	default:
		return found, fmt.Errorf("%s id prefix %q is ambiguous: %w", x.kind, id, errdefs.ErrInvalidArgument)
	}
}

// withOp looks id up, takes the entry's op lock and runs fn with it held. An entry
// removed while this waited for the lock counts as unknown. An unknown id is
// ErrNotFound, or, with missingOK, a success that does nothing: the CRI's Stop and
// Remove calls are idempotent and must not fail for an id that is gone.
func (x *index[E]) withOp(id string, missingOK bool, fn func(E) error) error {
	e, err := x.lookup(id)
	if err == nil {
		unlock := e.lockOp()
		defer unlock()
		if !x.holds(e) {
			err = fmt.Errorf("%s %q: %w", x.kind, id, errdefs.ErrNotFound)
		}
	}
	if missingOK && errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fn(e)
}

// holds reports whether e is still in the index.
func (x *index[E]) holds(e E) bool {
	o, ok := x.get(e.id())
	return ok && o == e
}

// add indexes e under id and name key.
func (x *index[E]) add(id, key string, e E) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[id] = e
	x.byName[key] = id
}

// remove drops id, and name key if it still names id.
func (x *index[E]) remove(id, key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.byID, id)
	if x.byName[key] == id {
		delete(x.byName, key)
	}
}

// all returns the entries, in no particular order.
func (x *index[E]) all() []E {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]E, 0, len(x.byID))
	for _, e := range x.byID {
		out = append(out, e)
	}
	return out
}

func (e *podEntry) id() string     { return e.snap.Load().ID }
func (e *podEntry) lockOp() func() { e.op.Lock(); return e.op.Unlock }
func (e *ctrEntry) id() string     { return e.snap.Load().ID }
func (e *ctrEntry) lockOp() func() { e.op.Lock(); return e.op.Unlock }
