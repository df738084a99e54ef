package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/crid-dev/crid/errdefs"
)

var pullBytes = promauto.NewCounter(prometheus.CounterOpts{
	Name: "crid_image_pull_bytes_total",
	Help: "Bytes received from registries by image pulls.",
})

var errNoProgress = errors.New("image pull made no progress")

// watchdog cancels a pull whose requests receive no byte for timeout. Time with no request
// outstanding (e.g. unpacking a layer already present) does not count: only a registry
// that holds a request open without sending anything trips it.
type watchdog struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration

	mu     sync.Mutex
	active int
	last   time.Time
	done   chan struct{}
}

func newWatchdog(parent context.Context, timeout time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, timeout: timeout, last: time.Now(), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *watchdog) run() {
	tick := w.timeout / 8
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-w.ctx.Done():
			return
		case now := <-t.C:
			w.mu.Lock()
			stalled := w.active > 0 && now.Sub(w.last) > w.timeout
			w.mu.Unlock()
			if stalled {
				w.cancel(fmt.Errorf("%w for %s: %w", errNoProgress, w.timeout, errdefs.ErrUnavailable))
				return
			}
		}
	}
}

func (w *watchdog) stop() {
	close(w.done)
	w.cancel(context.Canceled)
}

func (w *watchdog) progress() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

func (w *watchdog) begin() {
	w.mu.Lock()
	if w.active == 0 {
		w.last = time.Now()
	}
	w.active++
	w.mu.Unlock()
}

func (w *watchdog) end() {
	w.mu.Lock()
	w.active--
	w.mu.Unlock()
}

func (w *watchdog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		w.begin()
		resp, err := next.RoundTrip(req)
		if err != nil {
			w.end()
			return nil, err
		}
		w.progress()
		resp.Body = &watchedBody{ReadCloser: resp.Body, w: w}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// watchedBody reports progress on every read and ends the request at EOF or Close.
type watchedBody struct {
	io.ReadCloser
	w    *watchdog
	once sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress()
		pullBytes.Add(float64(n))
	}
	if err != nil {
		b.once.Do(b.w.end)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.once.Do(b.w.end)
	return b.ReadCloser.Close()
}
