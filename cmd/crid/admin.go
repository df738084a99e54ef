package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/images"
)

// The admin socket carries what CRI has no RPC for: image import, export and tag for the
// offline path (`crid image import|export|ls`, `crid save|load|tag` talk to a running
// daemon through it).
// It is a root-only unix socket in the state dir, never a TCP port.

type imageSummary struct {
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags"`
	RepoDigests []string `json:"repoDigests"`
	Size        uint64   `json:"size"`
	Pinned      bool     `json:"pinned"`
}

func summarize(list []*images.Image) []imageSummary {
	out := make([]imageSummary, 0, len(list))
	for _, img := range list {
		out = append(out, imageSummary{img.ID, img.RepoTags, img.RepoDigests, img.Size, img.Pinned})
	}
	return out
}

func adminHandler(store *images.Service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /images", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(summarize(store.List()))
	})
	mux.HandleFunc("POST /images/import", func(w http.ResponseWriter, r *http.Request) {
		imported, err := store.Import(r.Context(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), httpStatus(err))
			return
		}
		_ = json.NewEncoder(w).Encode(summarize(imported))
	})
	mux.HandleFunc("POST /images/tag", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := store.Tag(r.Context(), q.Get("source"), q.Get("target")); err != nil {
			http.Error(w, err.Error(), httpStatus(err))
		}
	})
	mux.HandleFunc("GET /images/export", func(w http.ResponseWriter, r *http.Request) {
		refs := r.URL.Query()["ref"]
		for _, ref := range refs {
			if _, err := store.Resolve(ref); err != nil {
				http.Error(w, err.Error(), httpStatus(err))
				return
			}
		}
		w.Header().Set("Content-Type", "application/x-tar")
		out := &startedWriter{w: w}
		if err := store.Export(r.Context(), out, refs); err != nil {
			if !out.started { // refused up front (a layer not kept): the client gets why
				http.Error(w, err.Error(), httpStatus(err))
				return
			}
			// Headers are gone; cutting the stream short makes the client see the failure.
			panic(http.ErrAbortHandler)
		}
	})
	return mux
}

// startedWriter tells whether anything was written (and so the headers sent).
type startedWriter struct {
	w       io.Writer
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

func httpStatus(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrFailedPrecondition):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (d *daemon) serveAdmin(path string) (*http.Server, error) {
	os.Remove(path)
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lis.Close()
		return nil, err
	}
	srv := &http.Server{Handler: adminHandler(d.images), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return srv, nil
}
