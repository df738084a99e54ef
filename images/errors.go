package images

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/crid-dev/crid/errdefs"
)

// classify wraps a registry error in the errdefs kind the CRI layer maps to a gRPC code,
// naming the registry host.
func classify(err error, host string) error {
	if err == nil {
		return nil
	}
	if isKind(err) {
		return err
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("registry %s refused the credentials (authentication required or denied): %v: %w", host, err, errdefs.ErrFailedPrecondition)
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("registry %s: %v: %w", host, err, errdefs.ErrNotFound)
			}
		}
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry %s refused the credentials (authentication required or denied): %v: %w", host, err, errdefs.ErrFailedPrecondition)
		case http.StatusNotFound:
			return fmt.Errorf("registry %s: %v: %w", host, err, errdefs.ErrNotFound)
		default:
			return fmt.Errorf("registry %s: %v: %w", host, err, errdefs.ErrUnavailable)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Errorf("registry %s: TLS certificate not trusted (see hosts.toml ca / skip_verify): %v: %w", host, err, errdefs.ErrFailedPrecondition)
	}
	// Only network-level failures mean the registry is unreachable (syscall.Errno
	// satisfies net.Error, so that interface cannot tell).
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("registry %s unreachable: %v: %w", host, err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("registry %s: %w", host, err)
}

// isKind reports whether err already carries an errdefs kind.
func isKind(err error) bool {
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable, errdefs.ErrAlreadyExists, errdefs.ErrResourceExhausted} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
