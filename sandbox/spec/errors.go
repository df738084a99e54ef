package spec

import (
	"fmt"

	"github.com/crid-dev/crid/errdefs"
)

// invalidf builds the one error shape this package returns for bad input:
// the CRI field path first, so kubelet events say exactly what to fix.
func invalidf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}
