package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
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
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable} {
		if errors.Is(err, k) {
			return err
		}
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
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("registry %s refused the credentials (authentication required or denied): %v: %w", host, err, errdefs.ErrFailedPrecondition)
		case te.StatusCode == http.StatusNotFound:
			return fmt.Errorf("registry %s: %v: %w", host, err, errdefs.ErrNotFound)
		default:
			return fmt.Errorf("registry %s: %v: %w", host, err, errdefs.ErrUnavailable)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") {
		return fmt.Errorf("registry %s unreachable: %v: %w", host, err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("registry %s: %w", host, err)
}
