package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Spares keeps up to N spare monitors of one set of daemon-wide options ready, and
// starts pods' monitors from them (Start). One idle spare costs about what an idle
// Go monitor does. Taking one never waits: RunPodSandbox calls in parallel past the
// ready spares start their monitors as Start does.
type Spares struct {
	opts StartOptions
	n    int
	log  *slog.Logger

	mu       sync.Mutex
	ready    []*Spare
	starting int
	closed   bool
	wg       sync.WaitGroup
}

// NewSpares keeps n spares of opts (see StartSpare) and starts them in the background.
func NewSpares(opts StartOptions, n int, log *slog.Logger) *Spares {
	if log == nil {
		log = slog.Default()
	}
	p := &Spares{opts: opts, n: n, log: log}
	p.fill()
	return p
}

// Start returns the monitor of opts' pod: the one already answering in its state dir
// (a retried RunPodSandbox), an adopted spare if one fits, else a started one (also
// when the adoption failed: the spare died, say).
func (p *Spares) Start(ctx context.Context, opts StartOptions) (*Client, error) {
	// The next spare starts once this pod's monitor answers: on a loaded node its exec
	// and Go runtime start would compete with this one's.
	defer p.fill()
	// A retried RunPodSandbox finds the monitor of its first attempt running.
	if c, err := Connect(ctx, opts.StateDir); err == nil {
		return c, nil
	}
	s := p.take(opts)
	if s == nil {
		return Start(ctx, opts)
	}
	c, err := s.Adopt(ctx, opts.PodID, opts.StateDir)
	if err == nil || ctx.Err() != nil {
		return c, err
	}
	p.log.Warn("adopting a spare monitor failed; starting one", "pod", opts.PodID, "error", err)
	return Start(ctx, opts)
}

// take returns a live ready spare that fits opts, or nil.
func (p *Spares) take(opts StartOptions) *Spare {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.ready) > 0 && p.ready[0].Fits(opts) {
		s := p.ready[0]
		p.ready = p.ready[1:]
		if s.Alive() {
			return s
		}
		s.Close()
	}
	return nil
}

func (p *Spares) fill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fillLocked()
}

// fillLocked starts as many spares as the pool lacks, in the background.
func (p *Spares) fillLocked() {
	for ; !p.closed && len(p.ready)+p.starting < p.n; p.starting++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			s, err := StartSpare(p.opts)
			p.mu.Lock()
			p.starting--
			closed := p.closed
			if err == nil && !closed {
				p.ready = append(p.ready, s)
			}
			p.mu.Unlock()
			switch {
			case err != nil:
				// Not retried until the next pod start: that one starts its monitor itself.
				p.log.Warn("starting a spare monitor", "error", err)
			case closed:
				// Outside mu: Close waits for the spare's exit.
				s.Close()
			}
		}()
	}
}

// Close makes the ready spares exit, starts no more and returns once they are gone
// (up to spareExitWait for all of them, then it goes on).
func (p *Spares) Close() {
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	// All told first: they exit side by side.
	for _, s := range ready {
		s.hangUp()
	}
	deadline := time.Now().Add(spareExitWait)
	for _, s := range ready {
		s.awaitExit(deadline)
		s.conn.Close()
	}
	p.wg.Wait()
}

// readyCount (tests) is how many spares are ready.
func (p *Spares) readyCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}
