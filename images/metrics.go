package images

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/crid-dev/crid/errdefs"
)

// Pull metrics count each pull once, however many callers share it (see Pull); the bytes
// received are crid_image_pull_bytes_total (progress.go).
var (
	pullsTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crid_image_pulls_total",
		Help: "Image pulls from registries, finished or failed (concurrent pulls of one reference count once).",
	})
	pullFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crid_image_pull_failures_total",
		Help: "Image pulls that failed, by reason (the gRPC code the failure maps to: NotFound, Unavailable, FailedPrecondition for refused credentials or TLS, DeadlineExceeded for no progress, ...).",
	}, []string{"reason"})
	pullDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "crid_image_pull_duration_seconds",
		Help:    "Time image pulls took, successful or not.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50ms .. ~7 min
	})
)

// observePull records one finished pull; call it as defer observePull(time.Now(), &err).
func observePull(start time.Time, err *error) {
	pullsTotal.Inc()
	pullDuration.Observe(time.Since(start).Seconds())
	if *err != nil {
		pullFailures.WithLabelValues(errdefs.Code(*err).String()).Inc()
	}
}
