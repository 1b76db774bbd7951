package initramfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// Reader reads a newc archive (magic 070701 or 070702) entry by entry. It is
// meant for inspecting images (kcfm image ls) and for tests; all sizes are
// bounded, so it is safe on untrusted input.
type Reader struct {
	r       *bufio.Reader
	off     int64
	maxBody int64
	done    bool
}

// DefaultMaxBody is the largest file body NewReader accepts (256 MiB).
const DefaultMaxBody = 256 << 20

// NewReader reads an uncompressed newc stream.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), maxBody: DefaultMaxBody}
}

// SetMaxBody changes the largest accepted file or symlink body.
func (r *Reader) SetMaxBody(n int64) { r.maxBody = n }

// ErrFormat is wrapped by every error about malformed input.
var ErrFormat = errors.New("malformed newc archive")

func (r *Reader) fail(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrFormat, r.off, fmt.Sprintf(format, args...))
}

func (r *Reader) read(n int64) ([]byte, error) {
	// Grow the buffer while reading so that a lying size field cannot make us
	// allocate more than the input actually holds.
	var buf bytes.Buffer
	m, err := io.CopyN(&buf, r.r, n)
	r.off += m
	if err != nil {
		if err == io.EOF {
			return nil, r.fail("truncated (wanted %d bytes, got %d)", n, m)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

func (r *Reader) skipPad() error {
	if p := (4 - r.off%4) % 4; p != 0 {
		b, err := r.read(p)
		if err != nil {
			return err
		}
		for _, c := range b {
			if c != 0 {
				return r.fail("non-zero padding byte")
			}
		}
	}
	return nil
}

// Next returns the next entry, or io.EOF after the trailer.
func (r *Reader) Next() (*Entry, error) {
	if r.done {
		return nil, io.EOF
	}
	start := r.off
	hdr, err := r.read(headerLen)
	if err != nil {
		return nil, err
	}
	if m := string(hdr[:6]); m != magicNewc && m != magicCRC {
		return nil, fmt.Errorf("%w at offset %d: bad magic %q (want %s)", ErrFormat, start, m, magicNewc)
	}
	var f [13]uint32
	for i := range f {
		v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%w at offset %d: header field %d is not hex: %q", ErrFormat, start, i, hdr[6+8*i:14+8*i])
		}
		f[i] = uint32(v)
	}
	ino, mode, uid, gid, nlink, mtime, size := f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	rmaj, rmin, namesize := f[9], f[10], f[11]
	if namesize == 0 || namesize > MaxNameLen {
		return nil, r.fail("name size %d out of range 1..%d", namesize, MaxNameLen)
	}
	nb, err := r.read(int64(namesize))
	if err != nil {
		return nil, err
	}
	if nb[len(nb)-1] != 0 || bytes.IndexByte(nb[:len(nb)-1], 0) >= 0 {
		return nil, r.fail("name is not a single NUL-terminated string")
	}
	name := string(nb[:len(nb)-1])
	if err := r.skipPad(); err != nil {
		return nil, err
	}
	if int64(size) > r.maxBody {
		return nil, r.fail("%s: body of %d bytes exceeds the limit of %d", name, size, r.maxBody)
	}
	body, err := r.read(int64(size))
	if err != nil {
		return nil, err
	}
	if err := r.skipPad(); err != nil {
		return nil, err
	}
	if name == trailer {
		r.done = true
		return nil, io.EOF
	}
	e := &Entry{Name: name, Inode: ino, UID: uid, GID: gid, Mtime: mtime, Nlink: nlink,
		Perm: fs.FileMode(mode & 0o777)}
	if mode&0o4000 != 0 {
		e.Perm |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		e.Perm |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		e.Perm |= fs.ModeSticky
	}
	switch mode & modeTypeMask {
	case modeFile:
		e.Kind, e.Data = KindFile, body
	case modeDir:
		e.Kind = KindDir
	case modeSymlink:
		e.Kind, e.Target = KindSymlink, string(body)
	case modeCharDev:
		e.Kind, e.Major, e.Minor = KindCharDev, rmaj, rmin
	default:
		e.Kind, e.Major, e.Minor = KindOther, rmaj, rmin
	}
	return e, nil
}

// ReadAll reads every entry of an archive. If the stream starts with the gzip
// magic it is decompressed first. The total decompressed size is bounded by
// limit bytes (0 means 1 GiB).
func ReadAll(r io.Reader, limit int64) ([]*Entry, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("initramfs: gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	lr := &io.LimitedReader{R: src, N: limit + 1}
	cr := NewReader(lr)
	var out []*Entry
	for {
		e, err := cr.Next()
		if err == io.EOF {
			if lr.N <= 0 {
				return nil, fmt.Errorf("initramfs: archive larger than %d bytes", limit)
			}
			return out, nil
		}
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("initramfs: archive larger than %d bytes", limit)
			}
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		out = append(out, e)
	}
}
