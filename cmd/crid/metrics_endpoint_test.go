package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func scrape(t *testing.T, addr string) (string, error) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestMetricsEndpointMoves: a reload moves /metrics to a new address (the old one closes),
// a bad address keeps the running endpoint, "" turns it off; the build-info gauge is there.
func TestMetricsEndpointMoves(t *testing.T) {
	buildInfo.WithLabelValues("test", "go", "v1").Set(1)
	m := &metricsEndpoint{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer m.close()
	if err := m.set("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	first := m.bound
	body, err := scrape(t, first)
	if err != nil || !strings.Contains(body, `crid_build_info{cri_api="v1",go_version="go",version="test"} 1`) {
		t.Fatalf("scrape %s: %v\n%.2000s", first, err, body)
	}
	if err := m.set("256.0.0.1:0"); err == nil {
		t.Fatal("an impossible address accepted")
	}
	if _, err := scrape(t, first); err != nil {
		t.Fatalf("a bad address stopped the running endpoint: %v", err)
	}
	if err := m.set("localhost:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := scrape(t, m.bound); err != nil || m.bound == first {
		t.Fatalf("new endpoint %s: %v", m.bound, err)
	}
	if _, err := scrape(t, first); err == nil {
		t.Error("the old endpoint still serves")
	}
	if err := m.set(""); err != nil || m.srv != nil {
		t.Fatalf("disable: %v", err)
	}
}
