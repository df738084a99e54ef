package images

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// This file reads containerd's registry host configuration (certs.d/<host>/hosts.toml,
// https://github.com/containerd/containerd/blob/main/docs/hosts.md) so a containerd user can
// point crid at the same directory, and turns it into an ordered list of endpoints per
// registry. The lookup order follows containerd: "<dir>/<host>_<port>_" (the Windows-safe
// spelling), then "<dir>/<host:port>", then "<dir>/_default". Within a file the
// [host."..."] entries are tried in file order and `server` (or the registry itself) last.
// Files are read at every pull, so edits apply without a restart, as in containerd.

// Capability bits of a host entry, as in hosts.toml `capabilities`.
const (
	capPull = 1 << iota
	capResolve
	capPush
)

// endpoint is one place a registry's content can be fetched from.
type endpoint struct {
	URL          *url.URL // scheme, host and path prefix
	OverridePath bool     // URL.Path is the full API prefix; "/v2" is not appended
	Caps         int
	SkipVerify   bool
	CAs          []string
	ClientCerts  [][2]string // cert, key pairs
	Header       http.Header
}

// apiPrefix is the path that replaces "/v2" in registry API requests to this endpoint.
func (e *endpoint) apiPrefix() string {
	p := strings.TrimSuffix(e.URL.Path, "/")
	if e.OverridePath {
		return p
	}
	return p + "/v2"
}

func (e *endpoint) String() string { return e.URL.String() }

// hostsConfig resolves a registry name to its endpoints.
type hostsConfig struct {
	dir string

	mu         sync.Mutex
	transports map[string]http.RoundTripper // per endpoint TLS settings, reused across pulls
}

func newHostsConfig(dir string) *hostsConfig {
	return &hostsConfig{dir: dir, transports: map[string]http.RoundTripper{}}
}

// hostsEntry holds the keys a [host."..."] table and the top level (for `server`) share.
// Several accept a string or an array in containerd, hence the `any`.
type hostsEntry struct {
	Capabilities []string       `toml:"capabilities"`
	SkipVerify   *bool          `toml:"skip_verify"`
	CA           any            `toml:"ca"`
	Client       any            `toml:"client"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
}

// hostsFile mirrors the keys of hosts.toml that crid understands.
type hostsFile struct {
	Server string `toml:"server"`
	hostsEntry
	Host map[string]hostsEntry `toml:"host"`
}

// hostDirs lists the directories consulted for registry host, most specific first.
func hostDirs(root, host string) []string {
	var dirs []string
	if i := strings.LastIndex(host, ":"); i > 0 {
		dirs = append(dirs, filepath.Join(root, host[:i]+"_"+host[i+1:]+"_"))
	}
	return append(dirs, filepath.Join(root, host), filepath.Join(root, "_default"))
}

// defaultEndpoint is where a registry lives when no configuration says otherwise.
// Loopback registries speak plain HTTP, as containerd and go-containerregistry assume.
func defaultEndpoint(host string) *endpoint {
	scheme := "https"
	if isLoopback(host) {
		scheme = "http"
	}
	h := host
	if host == dockerHub {
		h = "registry-1.docker.io"
	}
	return &endpoint{URL: &url.URL{Scheme: scheme, Host: h}, Caps: capPull | capResolve | capPush}
}

func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// endpoints returns, in the order to try them, the endpoints of registry host that have
// every capability in caps.
func (h *hostsConfig) endpoints(host string, caps int) ([]*endpoint, error) {
	all, err := h.load(host)
	if err != nil {
		return nil, err
	}
	var out []*endpoint
	for _, e := range all {
		if e.Caps&caps == caps {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("registry %s: no configured host may %s", host, capNames(caps))
	}
	return out, nil
}

func capNames(c int) string {
	var n []string
	for bit, s := range map[int]string{capPull: "pull", capResolve: "resolve", capPush: "push"} {
		if c&bit != 0 {
			n = append(n, s)
		}
	}
	return strings.Join(n, "+")
}

func (h *hostsConfig) load(host string) ([]*endpoint, error) {
	if h.dir == "" {
		return []*endpoint{defaultEndpoint(host)}, nil
	}
	for _, dir := range hostDirs(h.dir, host) {
		data, err := os.ReadFile(filepath.Join(dir, "hosts.toml"))
		if errors.Is(err, fs.ErrNotExist) {
			// containerd also accepts a directory of certificates without hosts.toml.
			if st, err := os.Stat(dir); err == nil && st.IsDir() && filepath.Base(dir) != "_default" {
				return []*endpoint{withDirCerts(defaultEndpoint(host), dir)}, nil
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", host, err)
		}
		eps, err := parseHostsFile(host, dir, data)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %s: %w", host, filepath.Join(dir, "hosts.toml"), err)
		}
		return eps, nil
	}
	return []*endpoint{defaultEndpoint(host)}, nil
}

// withDirCerts adds the legacy certs.d layout: *.crt are CAs, *.cert/*.key client pairs.
func withDirCerts(e *endpoint, dir string) *endpoint {
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		n := ent.Name()
		switch {
		case strings.HasSuffix(n, ".crt"):
			e.CAs = append(e.CAs, filepath.Join(dir, n))
		case strings.HasSuffix(n, ".cert"):
			key := strings.TrimSuffix(n, ".cert") + ".key"
			e.ClientCerts = append(e.ClientCerts, [2]string{filepath.Join(dir, n), filepath.Join(dir, key)})
		}
	}
	return e
}

func parseHostsFile(host, dir string, data []byte) ([]*endpoint, error) {
	var f hostsFile
	if err := toml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	// Host entries keep their order in the file: go-toml's map loses it, so re-read the keys.
	order, err := hostOrder(data)
	if err != nil {
		return nil, err
	}
	var eps []*endpoint
	for _, key := range order {
		ent := f.Host[key]
		e, err := newEndpoint(key, dir, ent)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", key, err)
		}
		eps = append(eps, e)
	}
	if f.Server != "" {
		e, err := newEndpoint(f.Server, dir, f.hostsEntry)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", f.Server, err)
		}
		eps = append(eps, e)
	} else {
		eps = append(eps, defaultEndpoint(host))
	}
	return eps, nil
}

// hostOrder returns the keys of the [host."..."] tables in the order they appear.
func hostOrder(data []byte) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[host.") {
			continue
		}
		// Let the TOML parser unquote the key: parse a one-table document.
		var t struct {
			Host map[string]any `toml:"host"`
		}
		hdr := line
		if i := strings.LastIndex(hdr, "]"); i >= 0 {
			hdr = hdr[:i+1]
		}
		if err := toml.Unmarshal([]byte(hdr+"\n"), &t); err != nil {
			return nil, err
		}
		for k := range t.Host {
			if !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	return order, nil
}

func newEndpoint(raw, dir string, ent hostsEntry) (*endpoint, error) {
	caps, skip, ca, client, header := ent.Capabilities, ent.SkipVerify, ent.CA, ent.Client, ent.Header
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("want http(s)://host[:port][/path], got %q", raw)
	}
	e := &endpoint{URL: u, OverridePath: ent.OverridePath, Header: http.Header{}}
	if caps == nil {
		e.Caps = capPull | capResolve | capPush
	}
	for _, c := range caps {
		switch c {
		case "pull":
			e.Caps |= capPull
		case "resolve":
			e.Caps |= capResolve
		case "push":
			e.Caps |= capPush
		default:
			return nil, fmt.Errorf("unknown capability %q", c)
		}
	}
	if skip != nil {
		e.SkipVerify = *skip
	}
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cas, err := stringList(ca)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	for _, c := range cas {
		e.CAs = append(e.CAs, rel(c))
	}
	switch c := client.(type) {
	case nil:
	case string: // one file holding cert and key
		e.ClientCerts = append(e.ClientCerts, [2]string{rel(c), rel(c)})
	case []any:
		for _, it := range c {
			switch p := it.(type) {
			case string:
				e.ClientCerts = append(e.ClientCerts, [2]string{rel(p), rel(p)})
			case []any:
				if len(p) != 2 {
					return nil, fmt.Errorf("client: want [cert, key] pairs")
				}
				cs, _ := p[0].(string)
				ks, _ := p[1].(string)
				e.ClientCerts = append(e.ClientCerts, [2]string{rel(cs), rel(ks)})
			}
		}
	default:
		return nil, fmt.Errorf("client: unsupported value %v", client)
	}
	for k, v := range header {
		vals, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("header %q: %w", k, err)
		}
		for _, s := range vals {
			e.Header.Add(k, s)
		}
	}
	return e, nil
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		var out []string
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %v", it)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or an array of strings, got %v", v)
}

// transport returns the RoundTripper for e: its TLS settings, its extra headers, and the
// path rewrite from the registry API's "/v2" to the endpoint's prefix.
func (h *hostsConfig) transport(e *endpoint) (http.RoundTripper, error) {
	key := fmt.Sprintf("%s|%v|%v|%v", e.URL.Host, e.SkipVerify, e.CAs, e.ClientCerts)
	h.mu.Lock()
	base, ok := h.transports[key]
	h.mu.Unlock()
	if !ok {
		tlsCfg := &tls.Config{InsecureSkipVerify: e.SkipVerify} //nolint:gosec // user asked for skip_verify
		if len(e.CAs) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			for _, ca := range e.CAs {
				pem, err := os.ReadFile(ca)
				if err != nil {
					return nil, fmt.Errorf("registry %s: ca: %w", e.URL.Host, err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("registry %s: ca %s: no certificates", e.URL.Host, ca)
				}
			}
			tlsCfg.RootCAs = pool
		}
		for _, pair := range e.ClientCerts {
			cert, err := tls.LoadX509KeyPair(pair[0], pair[1])
			if err != nil {
				return nil, fmt.Errorf("registry %s: client certificate: %w", e.URL.Host, err)
			}
			tlsCfg.Certificates = append(tlsCfg.Certificates, cert)
		}
		base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}
		h.mu.Lock()
		h.transports[key] = base
		h.mu.Unlock()
	}
	return &rewriter{ep: e, next: base}, nil
}

// rewriter maps go-containerregistry's requests, which always use "/v2/<repo>/...", onto
// the endpoint's path prefix (a mirror like http://127.0.0.1:5000/v2/docker.io with
// override_path). Only requests to the endpoint's own host are touched, so token realms
// and blob redirects elsewhere go out unchanged.
type rewriter struct {
	ep   *endpoint
	next http.RoundTripper
}

func (r *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != r.ep.URL.Host {
		return r.next.RoundTrip(req)
	}
	if r.ep.URL.Scheme == "https" && req.URL.Scheme == "http" {
		// go-containerregistry falls back to plain HTTP for loopback and private
		// addresses; an endpoint configured as https must never be downgraded.
		return nil, fmt.Errorf("registry %s is configured for https: refusing plain http", r.ep.URL.Host)
	}
	out := req.Clone(req.Context())
	for k, v := range r.ep.Header {
		if out.Header.Get(k) == "" {
			out.Header[k] = v
		}
	}
	prefix := r.ep.apiPrefix()
	if prefix != "/v2" && strings.HasPrefix(req.URL.Path, prefix+"/") {
		// Already physical: a same-host redirect the HTTP client resolved against our
		// rewritten URL. Rewriting again would double the prefix.
		return r.next.RoundTrip(out)
	}
	if p, ok := strings.CutPrefix(req.URL.Path, "/v2"); ok && (p == "" || p[0] == '/') {
		if p == "" || p == "/" {
			// The API version check: ask the registry itself, whatever the mirror path.
			out.URL.Path = "/v2/"
			if !r.ep.OverridePath {
				out.URL.Path = prefix + "/"
			}
		} else {
			out.URL.Path = prefix + p
		}
		out.URL.RawPath = ""
	}
	resp, err := r.next.RoundTrip(out)
	if resp != nil {
		// Redirects and go-containerregistry's scheme detection must see the request
		// they sent, not our rewrite.
		resp.Request = req
	}
	return resp, err
}
