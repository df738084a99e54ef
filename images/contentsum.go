package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/crid-dev/crid/errdefs"
)

// contentSum is the digest and size of a blob's bytes as they stream through (an io.Writer
// for a TeeReader): the content store's check before a blob is committed, and a discarded
// layer's (discard_unpacked_layers) before its snapshot is.
type contentSum struct {
	h hash.Hash // nil when the source checks the digest itself (source.layersVerified)
	n int64
}

func newContentSum(sourceVerifies bool) *contentSum {
	if sourceVerifies {
		return &contentSum{}
	}
	return &contentSum{h: sha256.New()}
}

func (c *contentSum) Write(p []byte) (int, error) {
	if c.h != nil {
		c.h.Write(p)
	}
	c.n += int64(len(p))
	return len(p), nil
}

// check fails unless the bytes had digest (when hashed) and size (when known: size < 0
// skips it).
func (c *contentSum) check(digest string, size int64) error {
	if c.h != nil {
		if got := "sha256:" + hex.EncodeToString(c.h.Sum(nil)); got != digest {
			return fmt.Errorf("blob %s: content has digest %s: %w", digest, got, errdefs.ErrFailedPrecondition)
		}
	}
	if size >= 0 && c.n != size {
		return fmt.Errorf("blob %s: size %d, manifest says %d: %w", digest, c.n, size, errdefs.ErrFailedPrecondition)
	}
	return nil
}
