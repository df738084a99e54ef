package images

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/crid-dev/crid/errdefs"
)

// source says what names an ingested image gets and which extra blobs (an index it was
// selected from) belong to it.
type source struct {
	tags       []string
	digests    []string
	extraBlobs map[string][]byte
	// layersVerified: the layers' compressed streams check their own digest and size,
	// failing the read that reaches the end on a mismatch (go-containerregistry's registry
	// blobs do), so the content store does not hash them a second time.
	layersVerified bool
}

// ingest stores img (from a registry or an imported tar): manifest and config blobs,
// then every layer downloaded, verified and unpacked in parallel, and finally the image
// record in one transaction. Returns the image ID.
func (s *Service) ingest(ctx context.Context, img v1.Image, src source) (_ string, err error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	mdigest := sha256Digest(rawManifest)
	// The config is read whole into memory: refuse, before fetching it, one the manifest
	// says is bigger than any real config.
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("image manifest %s: %v: %w", mdigest, err, errdefs.ErrInvalidArgument)
	}
	// A negative size is go-containerregistry's "unknown": the blob would then be read
	// unbounded (chunked, or as long as the registry's Content-Length says), past both
	// limits below. The OCI spec has no negative sizes.
	if m.Config.Size < 0 {
		return "", fmt.Errorf("image manifest %s: config size %d: %w", mdigest, m.Config.Size, errdefs.ErrInvalidArgument)
	}
	for i, l := range m.Layers {
		if l.Size < 0 {
			return "", fmt.Errorf("image manifest %s: layer %d size %d: %w", mdigest, i, l.Size, errdefs.ErrInvalidArgument)
		}
	}
	if m.Config.Size > maxConfigSize {
		return "", fmt.Errorf("image manifest %s: config of %d bytes, more than the %d crid reads: %w", mdigest, m.Config.Size, maxConfigSize, errdefs.ErrResourceExhausted)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return "", err
	}
	id := sha256Digest(rawConfig)
	var cfg ocispec.Image
	if err := json.Unmarshal(rawConfig, &cfg); err != nil {
		return "", fmt.Errorf("image config %s: %v: %w", id, err, errdefs.ErrInvalidArgument)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return "", fmt.Errorf("image %s: %d layers but %d diff IDs: %w", id, len(layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	rec := &record{
		ID:              id,
		RepoTags:        src.tags,
		RepoDigests:     src.digests,
		ManifestDigests: []string{mdigest},
		ConfigDigest:    id,
		Config:          cfg,
		Size:            uint64(len(rawManifest) + len(rawConfig)),
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return "", err
		}
		size, err := l.Size()
		if err != nil {
			return "", err
		}
		mt, err := l.MediaType()
		if err != nil {
			return "", err
		}
		diffIDs[i] = cfg.RootFS.DiffIDs[i].String()
		rec.Layers = append(rec.Layers, layerRecord{Digest: d.String(), DiffID: diffIDs[i], MediaType: string(mt), Size: size})
		rec.Size += uint64(size)
	}
	rec.ChainIDs = chainIDs(diffIDs)
	for d := range src.extraBlobs {
		rec.ManifestDigests = append(rec.ManifestDigests, d)
	}
	// Nothing from the image reaches a path or the store before its digests are checked.
	if err := rec.checkDigests(); err != nil {
		return "", fmt.Errorf("image %s: %w", id, err)
	}

	// Hold everything this image will reference against GC until its record is saved; a
	// failed ingest then lets GC take what it wrote, so nothing half-pulled stays behind.
	keys := s.refKeys(rec)
	s.hold(keys)
	defer func() {
		s.release(keys)
		if err != nil {
			s.gc() //nolint:errcheck // the error being returned matters more
		}
	}()

	for d, b := range src.extraBlobs {
		if err := s.writeBlob(d, b); err != nil {
			return "", err
		}
	}
	if err := s.writeBlob(mdigest, rawManifest); err != nil {
		return "", err
	}
	if err := s.writeBlob(id, rawConfig); err != nil {
		return "", err
	}

	// max_concurrent_downloads bounds the layers streaming at once, not the goroutines: a
	// layer gives its slot up once its bytes are in, so the next one downloads while it
	// waits for the disk (syncs take as long as a layer's download on a busy node).
	opts := fetchOpts{verified: src.layersVerified, slots: make(chan struct{}, s.cfg.MaxConcurrentDownloads)}
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range layers {
		lr, chain := rec.Layers[i], rec.ChainIDs[i]
		g.Go(func() error { return s.ensureLayer(gctx, l, lr, chain, opts) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	if err := s.syncContentDirs(); err != nil {
		return "", err
	}
	if err := s.addImage(rec); err != nil {
		return "", err
	}
	return id, nil
}

// addImage saves rec, merged with an existing record of the same ID, and moves its tags
// away from any other image (which is removed when it has no name left).
func (s *Service) addImage(rec *record) error { return s.saveImage(rec, false) }

// addNames merges rec's names into the stored image of its ID, as addImage does, but fails
// with ErrNotFound when there is none: a name added to an image removed meanwhile must not
// bring it back.
func (s *Service) addNames(rec *record) error { return s.saveImage(rec, true) }

func (s *Service) saveImage(rec *record, mustExist bool) error {
	s.mu.Lock()
	var puts, dels []*record
	old, ok := s.images[rec.ID]
	if !ok && mustExist {
		s.mu.Unlock()
		return fmt.Errorf("image %s: %w", rec.ID, errdefs.ErrNotFound)
	}
	if ok {
		merged := old.clone()
		for _, t := range rec.RepoTags {
			if !slices.Contains(merged.RepoTags, t) {
				merged.RepoTags = append(merged.RepoTags, t)
			}
		}
		for _, d := range rec.RepoDigests {
			if !slices.Contains(merged.RepoDigests, d) {
				merged.RepoDigests = append(merged.RepoDigests, d)
			}
		}
		for _, d := range rec.ManifestDigests {
			if !slices.Contains(merged.ManifestDigests, d) {
				merged.ManifestDigests = append(merged.ManifestDigests, d)
			}
		}
		rec = merged
	}
	puts = append(puts, rec)
	moved := map[string]*record{}
	for _, t := range append(slices.Clone(rec.RepoTags), rec.RepoDigests...) {
		oid, ok := s.refs[t]
		if !ok || oid == rec.ID {
			continue
		}
		o := moved[oid]
		if o == nil {
			o = s.images[oid].clone()
			moved[oid] = o
		}
		o.RepoTags = slices.DeleteFunc(o.RepoTags, func(x string) bool { return x == t })
		o.RepoDigests = slices.DeleteFunc(o.RepoDigests, func(x string) bool { return x == t })
	}
	for _, o := range moved {
		if len(o.RepoTags) == 0 && len(o.RepoDigests) == 0 {
			dels = append(dels, o)
		} else {
			puts = append(puts, o)
		}
	}
	err := s.commitLocked(puts, dels)
	s.mu.Unlock()
	s.invalidateUsage()
	if err == nil && len(dels) > 0 {
		go s.gc() //nolint:errcheck // best effort; Open collects what this misses
	}
	return err
}

// maxConfigSize bounds an image config (JSON, read into memory to be parsed). Real ones
// are KiBs; a long history stays far below.
const maxConfigSize = 8 << 20

// fetchOpts says how an ingest's layers are fetched.
type fetchOpts struct {
	// verified: the layers' streams check their own digest (source.layersVerified).
	verified bool
	// slots holds a token per layer streaming (max_concurrent_downloads).
	slots chan struct{}
}

// layerPresent reports whether a layer needs nothing fetched: its snapshot is committed
// and its blob stored, or not wanted (discard_unpacked_layers).
func (s *Service) layerPresent(lr layerRecord, chainID string) bool {
	return s.hasSnapshot(chainID) && (s.cfg.DiscardUnpackedLayers || s.hasBlob(lr.Digest))
}

// ensureLayer makes sure layer l has its snapshot unpacked and, unless
// discard_unpacked_layers, its blob in the content store. Concurrent callers for the same
// layer share the work.
func (s *Service) ensureLayer(ctx context.Context, l v1.Layer, lr layerRecord, chainID string, opts fetchOpts) error {
	for attempt := 0; ; attempt++ {
		if s.layerPresent(lr, chainID) {
			return nil
		}
		ran := false // read only once the result is in: DoChan's send orders it
		ch := s.layers.DoChan(chainID+"|"+lr.Digest, func() (any, error) {
			ran = true
			return nil, s.fetchLayer(ctx, l, lr, chainID, opts)
		})
		if s.layerWaiting != nil {
			s.layerWaiting(lr.Digest)
		}
		var err error
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case res := <-ch:
			err = res.Err
		}
		// Another pull's fetch ran through its own repository (and endpoints and
		// credentials) under its own context: its failure, whatever the error says (a
		// cancelled pull's cause is the error that cancelled it, e.g. another layer's
		// BLOB_UNKNOWN), says nothing about this pull, which fetches the layer itself.
		if err != nil && !ran && ctx.Err() == nil && attempt < 2 {
			continue
		}
		return err
	}
}

// fetchLayer streams the layer once: download → (content store temp file + digest) →
// decompress → (diff ID digest) → untar into a temp snapshot. Both digests are checked
// before anything is renamed into place: the blob's by the content store (by a contentSum
// when discard_unpacked_layers keeps no blob), or, when opts.verified says l's stream
// checks its own (a registry's), by that stream, which fails the read that reaches its end;
// every byte is read to the end before anything is committed. The stream holds one of
// opts.slots; the syncs and renames after it do not.
func (s *Service) fetchLayer(ctx context.Context, l v1.Layer, lr layerRecord, chainID string, opts fetchOpts) (err error) {
	limit := s.cfg.MaxLayerSize
	if limit > 0 && lr.Size > limit {
		return fmt.Errorf("layer %s: blob of %d bytes is bigger than max_layer_size (%d bytes): %w", lr.Digest, lr.Size, limit, errdefs.ErrResourceExhausted)
	}
	select {
	case opts.slots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	streaming := true
	release := func() {
		if streaming {
			streaming = false
			<-opts.slots
		}
	}
	defer release()
	haveBlob := s.hasBlob(lr.Digest)
	needBlob := !haveBlob && !s.cfg.DiscardUnpackedLayers
	needSnap := !s.hasSnapshot(chainID)
	if !needBlob && !needSnap {
		return nil // committed by another pull since ensureLayer looked
	}
	var rc io.ReadCloser
	if haveBlob {
		rc, err = s.openBlob(lr.Digest)
	} else {
		rc, err = l.Compressed()
	}
	if err != nil {
		return fmt.Errorf("layer %s: %w", lr.Digest, err)
	}
	defer rc.Close()
	// One byte past the manifest's size is enough to fail the size check at commit: a
	// registry sending more (trailing data after the compressed stream) fills no disk.
	var in io.Reader = rc
	if lr.Size >= 0 {
		in = io.LimitReader(rc, lr.Size+1)
	}
	var blob *ingest
	var discarded *contentSum // the stream of a blob not stored: checked as the store would
	switch {
	case needBlob:
		if blob, err = s.newIngest(); err != nil {
			return err
		}
		defer blob.abort()
		if opts.verified {
			blob.sourceVerifies()
		}
		in = io.TeeReader(in, blob)
	case !haveBlob:
		discarded = newContentSum(opts.verified)
		in = io.TeeReader(in, discarded)
	}
	var snapTmp string
	defer func() {
		if snapTmp != "" {
			os.RemoveAll(snapTmp)
		}
	}()
	var fsDir *os.File // snapTmp, opened before any write for its syncfs (openFS)
	if needSnap {
		if snapTmp, err = s.newSnapshotTemp(); err != nil {
			return err
		}
		if fsDir, err = s.openFS(snapTmp); err != nil {
			return err
		}
		defer fsDir.Close()
		if err := unpackStream(in, snapTmp+"/fs", lr, limit); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if isKind(err) {
				return fmt.Errorf("layer %s: %w", lr.Digest, err)
			}
			return fmt.Errorf("layer %s: cannot unpack: %v: %w", lr.Digest, err, errdefs.ErrFailedPrecondition)
		}
	}
	// Whatever the tar did not consume (padding, trailing data) still counts for the digest.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("layer %s: %w", lr.Digest, err)
	}
	if discarded != nil {
		if err := discarded.check(lr.Digest, lr.Size); err != nil {
			return err
		}
	}
	release()
	if s.layerStreamed != nil {
		s.layerStreamed(lr.Digest)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// One syncfs for the unpacked files and the blob beside them: an fsync of the blob
	// first would be one more wait for the disk and the journal per layer. The blob's last
	// bytes (less than a write buffer, all of a small blob) are still in memory: written
	// first, or the syncfs would not cover them.
	if blob != nil {
		if err := blob.flush(); err != nil {
			return fmt.Errorf("layer %s: %w", lr.Digest, err)
		}
	}
	if needSnap {
		if err := s.syncFS(fsDir); err != nil {
			return err
		}
		if blob != nil && blob.onFS(snapTmp) {
			blob.synced = true
		}
	}
	if blob != nil {
		if err := blob.commit(lr.Digest, lr.Size); err != nil {
			return err
		}
	}
	if needSnap {
		if err := s.commitSnapshot(snapTmp, chainID); err != nil {
			return err
		}
		snapTmp = ""
	}
	return nil
}

// unpackStream decompresses (gzip, zstd or none, told by the stream's magic bytes, which
// is more reliable than media types registries get wrong) and unpacks into dir, checking
// the uncompressed stream against the layer's diff ID. limit (> 0) bounds the uncompressed
// stream and the sizes of the files.
func unpackStream(r io.Reader, dir string, lr layerRecord, limit int64) error {
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(4)
	var dr io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		dr = zr
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return err
		}
		defer zr.Close()
		dr = zr
	}
	if limit > 0 {
		dr = &cappedReader{r: dr, left: limit, limit: limit}
	}
	h := sha256.New()
	tr := io.TeeReader(dr, h)
	if err := unpackLayer(tr, dir, limit); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != lr.DiffID {
		return fmt.Errorf("uncompressed content has digest %s, config says %s: %w", got, lr.DiffID, errdefs.ErrFailedPrecondition)
	}
	// Drain the compressed remainder through br so the blob digest sees every byte.
	_, err := io.Copy(io.Discard, br)
	return err
}

// cappedReader fails, rather than ending, once more than limit bytes come through: a
// decompression bomb stops at max_layer_size instead of filling the disk.
type cappedReader struct {
	r           io.Reader
	left, limit int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Probe for one more byte: a stream of exactly limit bytes is fine.
		var one [1]byte
		if n, err := c.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, layerTooBig("uncompressed stream", c.limit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func layerTooBig(what string, limit int64) error {
	return fmt.Errorf("layer %s is bigger than max_layer_size (%d bytes): %w", what, limit, errdefs.ErrResourceExhausted)
}

// zstdMaxWindow bounds the memory a layer's zstd frame may ask for (128 MiB, the zstd
// CLI's own default limit), so a hostile layer cannot make a pull allocate gigabytes.
const zstdMaxWindow = 1 << 27
