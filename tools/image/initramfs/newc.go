// Package initramfs writes and reads the "newc" cpio format (SVR4 portable
// ASCII, magic 070701) that the Linux kernel unpacks into its initial
// root file system.
//
// The archive package of the standard library has no cpio writer, so this is
// our own. Writing is deterministic: an Archive collects entries, adds every
// missing parent directory, sorts them by path, and numbers inodes in that
// order; modification times, owners and device numbers of the archive file
// itself are fixed at zero. The same entries therefore always give the same
// bytes, on any machine, which keeps image builds reproducible and lets the
// build system compare outputs.
package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Type bits of the cpio mode field (same values as st_mode on Linux).
const (
	modeTypeMask = 0o170000
	modeDir      = 0o040000
	modeFile     = 0o100000
	modeSymlink  = 0o120000
	modeCharDev  = 0o020000
	modeBlockDev = 0o060000
	modeFIFO     = 0o010000
	modeSocket   = 0o140000
)

const (
	magicNewc = "070701"
	magicCRC  = "070702"
	trailer   = "TRAILER!!!"
	headerLen = 110

	// MaxNameLen bounds an entry name (PATH_MAX on Linux, including the NUL).
	MaxNameLen = 4096
)

// Kind is the type of an archive entry.
type Kind int

// Entry kinds. Only these are written; the reader reports others as KindOther.
const (
	KindFile Kind = iota + 1
	KindDir
	KindSymlink
	KindCharDev
	KindOther
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	case KindCharDev:
		return "chardev"
	case KindOther:
		return "other"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one member of an archive. Name is relative to the archive root
// ("bin/hello", never with a leading slash). Perm holds only permission bits
// (0o7777: rwx plus setuid, setgid and sticky). Data is the content of a file;
// Target is the target of a symlink; Major and Minor are the device numbers
// of a character device.
type Entry struct {
	Name   string
	Kind   Kind
	Perm   fs.FileMode
	Data   []byte
	Target string
	Major  uint32
	Minor  uint32

	// Set by the reader only.
	Inode uint32
	UID   uint32
	GID   uint32
	Mtime uint32
	Nlink uint32

	implicit bool // a parent directory added by Archive, not by the caller
}

// mode returns the cpio mode field (type bits | permission bits).
func (e *Entry) mode() uint32 {
	perm := uint32(e.Perm.Perm())
	if e.Perm&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if e.Perm&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if e.Perm&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch e.Kind {
	case KindDir:
		return modeDir | perm
	case KindSymlink:
		return modeSymlink | perm
	case KindCharDev:
		return modeCharDev | perm
	default:
		return modeFile | perm
	}
}

// CleanName turns an image path ("/bin/hello", "bin//hello/") into an archive
// name ("bin/hello"). It rejects empty names, the root itself, ".."
// components, NUL bytes and names longer than MaxNameLen.
func CleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("path %q contains a NUL byte", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q contains a \"..\" component", name)
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+name), "/")
	if c == "" {
		return "", fmt.Errorf("path %q names the root directory", name)
	}
	if len(c)+1 > MaxNameLen {
		return "", fmt.Errorf("path %.40q… is longer than %d bytes", name, MaxNameLen-1)
	}
	return c, nil
}

// rawWriter emits newc records in the order given; it does no sorting.
type rawWriter struct {
	w     *bufio.Writer
	off   int64
	inode uint32
	err   error
}

func (c *rawWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

var zeros [4]byte

func (c *rawWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(zeros[:4-r])
	}
}

// record writes one header, name and body. ino 0 is used for the trailer.
func (c *rawWriter) record(name string, mode, ino, nlink, rmaj, rmin uint32, body []byte) {
	var hdr [headerLen]byte
	copy(hdr[:], magicNewc)
	fields := [13]uint32{
		ino, mode, 0 /*uid*/, 0 /*gid*/, nlink, 0, /*mtime*/
		uint32(len(body)), 0, 0 /*dev major, minor*/, rmaj, rmin,
		uint32(len(name) + 1), 0, /*check*/
	}
	const hexdig = "0123456789ABCDEF"
	for i, v := range fields {
		p := hdr[6+8*i : 6+8*i+8]
		for j := 7; j >= 0; j-- {
			p[j] = hexdig[v&0xf]
			v >>= 4
		}
	}
	c.write(hdr[:])
	c.write([]byte(name))
	c.write(zeros[:1])
	c.pad()
	c.write(body)
	c.pad()
}

func (c *rawWriter) entry(e *Entry) {
	c.inode++
	nlink := uint32(1)
	var body []byte
	var rmaj, rmin uint32
	switch e.Kind {
	case KindDir:
		nlink = 2
	case KindFile:
		body = e.Data
	case KindSymlink:
		body = []byte(e.Target)
	case KindCharDev:
		rmaj, rmin = e.Major, e.Minor
	}
	c.record(e.Name, e.mode(), c.inode, nlink, rmaj, rmin, body)
}

func (c *rawWriter) finish() error {
	c.record(trailer, 0, 0, 1, 0, 0, nil)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}

// errTooLarge is returned when a single body does not fit the 32-bit size field.
var errTooLarge = errors.New("larger than 4 GiB, the limit of the newc format")

// WriteEntries writes entries exactly in the given order, followed by the
// trailer. Most callers want Archive, which validates and sorts.
func WriteEntries(w io.Writer, entries []*Entry) error {
	c := &rawWriter{w: bufio.NewWriterSize(w, 64<<10)}
	for _, e := range entries {
		if uint64(len(e.Data)) > 0xffffffff || uint64(len(e.Target)) > 0xffffffff {
			return fmt.Errorf("initramfs: %s: %w", e.Name, errTooLarge)
		}
		c.entry(e)
		if c.err != nil {
			return c.err
		}
	}
	return c.finish()
}
