package initramfs

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Archive is an in-memory set of entries that is written deterministically:
// missing parent directories are added (mode 0755), entries are sorted by
// name (so every parent precedes its children) and inodes are numbered from 1
// in that order.
//
// Adding the same directory twice is allowed when the permissions agree;
// adding any other name twice is an error, as is a path below a non-directory.
type Archive struct {
	entries map[string]*Entry
}

// NewArchive returns an empty archive.
func NewArchive() *Archive { return &Archive{entries: map[string]*Entry{}} }

// Len is the number of entries added so far, parents included.
func (a *Archive) Len() int { return len(a.entries) }

// Lookup returns the entry with the given image path, or nil.
func (a *Archive) Lookup(name string) *Entry {
	c, err := CleanName(name)
	if err != nil {
		return nil
	}
	return a.entries[c]
}

// AddDir adds a directory (and its parents).
func (a *Archive) AddDir(name string, perm fs.FileMode) error {
	return a.add(&Entry{Name: name, Kind: KindDir, Perm: perm})
}

// AddFile adds a regular file with the given content.
func (a *Archive) AddFile(name string, perm fs.FileMode, data []byte) error {
	return a.add(&Entry{Name: name, Kind: KindFile, Perm: perm, Data: data})
}

// AddSymlink adds a symbolic link name → target. The target is stored as is
// (relative or absolute) and need not exist in the archive.
func (a *Archive) AddSymlink(name, target string) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) >= MaxNameLen {
		return fmt.Errorf("initramfs: symlink %s: invalid target %q", name, target)
	}
	return a.add(&Entry{Name: name, Kind: KindSymlink, Perm: 0o777, Target: target})
}

// AddCharDev adds a character device node (for example dev/console, 5:1).
func (a *Archive) AddCharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return a.add(&Entry{Name: name, Kind: KindCharDev, Perm: perm, Major: major, Minor: minor})
}

func (a *Archive) add(e *Entry) error {
	name, err := CleanName(e.Name)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if e.Perm&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return fmt.Errorf("initramfs: %s: mode %v has bits other than permissions", name, e.Perm)
	}
	e.Name = name
	// Parents must be directories; create the missing ones.
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		p, ok := a.entries[dir]
		if !ok {
			continue
		}
		if p.Kind != KindDir {
			return fmt.Errorf("initramfs: cannot add %s: %s is a %s, not a directory", name, dir, p.Kind)
		}
	}
	if e.Kind != KindDir && a.hasChildren(name) {
		return fmt.Errorf("initramfs: cannot add %s as a %s: it already has entries below it", name, e.Kind)
	}
	if old, ok := a.entries[name]; ok {
		if old.Kind == KindDir && e.Kind == KindDir {
			if old.implicit {
				old.Perm, old.implicit = e.Perm, false
				return nil
			}
			if old.Perm == e.Perm {
				return nil
			}
			return fmt.Errorf("initramfs: directory %s added twice with different modes (%v, %v)", name, old.Perm, e.Perm)
		}
		return fmt.Errorf("initramfs: %s added twice (as %s and as %s)", name, old.Kind, e.Kind)
	}
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if _, ok := a.entries[dir]; !ok {
			a.entries[dir] = &Entry{Name: dir, Kind: KindDir, Perm: 0o755, implicit: true}
		}
	}
	a.entries[name] = e
	return nil
}

func (a *Archive) hasChildren(name string) bool {
	prefix := name + "/"
	for n := range a.entries {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// PermFromUnix converts numeric permission bits as written in manifests
// (0o4755, 0o1777…) to an fs.FileMode with the setuid, setgid and sticky
// flags in their Go positions. Bits above 0o7777 are an error.
func PermFromUnix(m uint32) (fs.FileMode, error) {
	if m&^0o7777 != 0 {
		return 0, fmt.Errorf("mode %#o has bits above 07777", m)
	}
	p := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		p |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		p |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		p |= fs.ModeSticky
	}
	return p, nil
}

// Entries returns the entries in write order.
func (a *Archive) Entries() []*Entry {
	out := make([]*Entry, 0, len(a.entries))
	for _, e := range a.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteTo writes the uncompressed newc archive.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := WriteEntries(cw, a.Entries())
	return cw.n, err
}

// WriteGzip writes the archive gzip-compressed, as the kernel's -initrd
// expects. The gzip header carries no name and a zero modification time, so
// the output is as deterministic as the archive.
func (a *Archive) WriteGzip(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if _, err := a.WriteTo(zw); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
