package testimages

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory OCI registry on 127.0.0.1 (plain HTTP, or HTTPS WithTLS), for
// tests and demos.
type Registry struct {
	// Host is "127.0.0.1:<port>"; image references are Host + "/" + repo + ":" + tag.
	Host string
	// URL is "http://" + Host ("https://" WithTLS).
	URL string

	srv        *httptest.Server
	auth       string // "", "basic", "bearer"
	user, pass string

	mu     sync.Mutex
	tokens map[string]bool
}

// Option configures NewRegistry.
type Option func(*options)

type options struct {
	auth, user, pass string
	tls              bool
	middlewares      []func(http.Handler) http.Handler
}

// WithTLS serves HTTPS with a self-signed certificate for 127.0.0.1; CACertPEM returns it
// for a client's trust store (or hosts.toml `ca`).
func WithTLS() Option {
	return func(o *options) { o.tls = true }
}

// WithBasicAuth makes every /v2/ request require HTTP Basic user:pass.
func WithBasicAuth(user, pass string) Option {
	return func(o *options) { o.auth, o.user, o.pass = "basic", user, pass }
}

// WithBearerAuth makes every /v2/ request require a Bearer token, issued by the registry's
// own token endpoint (/token) for user:pass (Basic auth on the token request), announced by
// a `WWW-Authenticate: Bearer realm="<URL>/token",service="testimages"` challenge, the
// distribution token flow. Anonymous token requests are refused.
func WithBearerAuth(user, pass string) Option {
	return func(o *options) { o.auth, o.user, o.pass = "bearer", user, pass }
}

// WithMiddleware wraps the registry handler (the first given is outermost), e.g. to count,
// corrupt or stall requests. Middlewares see requests before authentication.
func WithMiddleware(m func(http.Handler) http.Handler) Option {
	return func(o *options) { o.middlewares = append(o.middlewares, m) }
}

// NewRegistry starts a registry listening on 127.0.0.1:0. Close it when done.
func NewRegistry(opts ...Option) (*Registry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := &Registry{tokens: map[string]bool{}, auth: o.auth, user: o.user, pass: o.pass}
	mws := o.middlewares
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h = r.authHandler(h)
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	r.srv = httptest.NewUnstartedServer(h)
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.Host = ln.Addr().String()
	if o.tls {
		r.srv.StartTLS()
		r.URL = "https://" + r.Host
	} else {
		r.srv.Start()
		r.URL = "http://" + r.Host
	}
	return r, nil
}

// CACertPEM is the PEM certificate a WithTLS registry serves (nil otherwise).
func (r *Registry) CACertPEM() []byte {
	if r.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
}

// Close stops the registry.
func (r *Registry) Close() { r.srv.Close() }

func (r *Registry) authHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch r.auth {
		case "basic":
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="testimages"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		case "bearer":
			if req.URL.Path == "/token" {
				r.issueToken(w, req)
				return
			}
			tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			r.mu.Lock()
			valid := ok && r.tokens[tok]
			r.mu.Unlock()
			if !valid {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="testimages"`, r.URL))
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

func (r *Registry) issueToken(w http.ResponseWriter, req *http.Request) {
	u, p, ok := req.BasicAuth()
	if req.Method == http.MethodPost { // OAuth2: password or refresh-token grant
		req.ParseForm() //nolint:errcheck
		switch req.PostForm.Get("grant_type") {
		case "refresh_token": // an identity token: IdentityToken(user) is the one accepted
			u, p, ok = r.user, r.pass, req.PostForm.Get("refresh_token") == IdentityToken(r.user)
		default:
			u, p, ok = req.PostForm.Get("username"), req.PostForm.Get("password"), req.PostForm.Get("username") != ""
		}
	}
	if !ok || u != r.user || p != r.pass {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck
	tok := hex.EncodeToString(b)
	r.mu.Lock()
	r.tokens[tok] = true
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 3600}) //nolint:errcheck
}

func (r *Registry) remoteOpts() []remote.Option {
	var opts []remote.Option
	if r.srv.TLS != nil {
		opts = append(opts, remote.WithTransport(r.srv.Client().Transport))
	}
	if r.auth != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass}))
	}
	return opts
}

// Ref is the reference of repoAndTag ("library/busybox:latest") in this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// Push uploads img as repoAndTag (e.g. "library/busybox:latest", or "docker.io/library/busybox:1"
// to lay out a mirror as containerd's override_path expects) and returns its manifest digest.
func (r *Registry) Push(repoAndTag string, img v1.Image) (string, error) {
	ref, err := name.ParseReference(r.Ref(repoAndTag), name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, r.remoteOpts()...); err != nil {
		return "", fmt.Errorf("testimages: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// PushIndex uploads an image index (and all its images) as repoAndTag; returns its digest.
func (r *Registry) PushIndex(repoAndTag string, idx v1.ImageIndex) (string, error) {
	ref, err := name.ParseReference(r.Ref(repoAndTag), name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(ref, idx, r.remoteOpts()...); err != nil {
		return "", fmt.Errorf("testimages: push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	return d.String(), err
}

// IdentityToken is the OAuth2 refresh token a WithBearerAuth registry accepts for user.
func IdentityToken(user string) string { return "identity-" + user }

// Token asks a WithBearerAuth registry for a bearer token as user:pass, for tests of
// clients given a ready-made registry token.
func (r *Registry) Token(user, pass string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, r.URL+"/token?service=testimages", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("testimages: token: %s", resp.Status)
	}
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", err
	}
	return tok.Token, nil
}
