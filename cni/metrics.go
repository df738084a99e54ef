package cni

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Plugin chains exec several binaries and may take iptables locks, so the
// buckets reach from a few milliseconds to tens of seconds.
var (
	opDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crid_cni_operation_duration_seconds",
		Help:    "Time spent in CNI operations (plugin chain ADD, DEL, CHECK).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
	}, []string{"operation"})
	opErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crid_cni_operation_errors_total",
		Help: "CNI operations (ADD, DEL, CHECK) that returned an error.",
	}, []string{"operation"})
)

// observe records one operation; call it as defer observe("add", time.Now(), &err).
func observe(op string, start time.Time, err *error) {
	opDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err != nil {
		opErrors.WithLabelValues(op).Inc()
	}
}
