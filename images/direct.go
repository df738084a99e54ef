package images

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct I/O for the bytes a pull writes in bulk. A buffered write copies every byte into a
// freshly allocated page-cache page, and the sync before commit then writes the pages out:
// on the bench machine that copy was 41% of a cold pull's CPU (the digests 23%). A write with
// O_DIRECT goes from the (aligned) buffer to the device: no page cache, no copy, and the
// syncfs before commit has only metadata and the device cache left to flush, so durability
// is unchanged (syncfs: ext4_sync_fs commits the journal and flushes the device).
//
// Only whole aligned blocks are written direct; a file's tail (less than a block) is written
// buffered after O_DIRECT is turned off again. A filesystem that refuses O_DIRECT (at
// F_SETFL or at the first write) gets buffered writes, as before.

// directAlign is the alignment of an O_DIRECT write's memory, file offset and length: 4096
// covers the logical block size of every disk and filesystem Linux runs on.
const directAlign = 4096

// alignedBuf returns n bytes (n a multiple of directAlign) starting at a multiple of
// directAlign in memory.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1)); r != 0 {
		off = directAlign - r
	}
	return b[off : off+n : off+n]
}

// writeBufSize is the size of the aligned buffers a layer's blob and files are written
// through.
const writeBufSize = 1 << 20

var writeBufs = sync.Pool{New: func() any { b := alignedBuf(writeBufSize); return &b }}

func getWriteBuf() *[]byte  { return writeBufs.Get().(*[]byte) }
func putWriteBuf(b *[]byte) { writeBufs.Put(b) }

// directFile writes f in aligned blocks with O_DIRECT while it can.
type directFile struct {
	f      *os.File
	direct bool
	// refused: the filesystem refused O_DIRECT once; every write is buffered from then on.
	refused bool
}

// setDirect turns O_DIRECT on or off; it reports whether the flag is now as asked.
func (d *directFile) setDirect(on bool) bool {
	if d.direct == on {
		return true
	}
	if on && d.refused {
		return false
	}
	rc, err := d.f.SyscallConn()
	if err != nil {
		return false
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		var fl int
		if fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0); ferr != nil {
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	}); err != nil || ferr != nil {
		return false
	}
	d.direct = on
	return true
}

// write writes p, whose memory is aligned, at the file's offset, which is aligned too: the
// whole aligned blocks with O_DIRECT when the filesystem takes it, the rest (a file's tail:
// only a file's last write may have a length that is not a multiple of directAlign)
// buffered.
func (d *directFile) write(p []byte) error {
	if whole := len(p) &^ (directAlign - 1); whole > 0 && !d.refused {
		if !d.setDirect(true) {
			d.refused = true
		} else {
			n, err := d.f.Write(p[:whole])
			p = p[n:]
			if errors.Is(err, unix.EINVAL) {
				// Stricter alignment than directAlign, or O_DIRECT taken by F_SETFL
				// but not by writes: buffered from here on.
				d.refused = true
			} else if err != nil {
				return err
			}
		}
	}
	if len(p) == 0 {
		return nil
	}
	if !d.setDirect(false) {
		return errors.New("cannot turn O_DIRECT off")
	}
	_, err := d.f.Write(p)
	return err
}
