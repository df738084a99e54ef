package sandbox

import (
	"sync"
)

// eventBuffer bounds what one subscriber may fall behind by. A subscriber that fills it is
// dropped (its channel closed) rather than let it block the runtime; kubelet's evented
// PLEG then reconnects and relists.
const eventBuffer = 1024

type subscriber struct {
	ch     chan Event
	closed bool
}

type broker struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func newBroker() *broker { return &broker{subs: map[*subscriber]struct{}{}} }

// Subscribe returns a channel of events from now on and a function that ends the
// subscription. The channel is closed when the subscriber is dropped or cancelled.
func (b *broker) subscribe() (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, eventBuffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() {
		b.mu.Lock()
		b.drop(s)
		b.mu.Unlock()
	}
}

func (b *broker) drop(s *subscriber) {
	if !s.closed {
		s.closed = true
		close(s.ch)
		delete(b.subs, s)
	}
}

// publish hands ev to every subscriber without blocking. Callers publish while holding the
// object's snapshot lock, so events of one object reach subscribers in the order the
// changes happened; the broker lock orders them across objects.
func (b *broker) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			b.drop(s)
		}
	}
}
