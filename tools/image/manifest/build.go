package manifest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/tools/image/initramfs"
	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"github.com/kcfm-linux/kcfm/tools/image/kernel"
)

// Image is a built initramfs, ready to be written.
type Image struct {
	Archive  *initramfs.Archive
	InitYAML []byte           // the /etc/init.yaml text
	Config   *inityaml.Config // parsed InitYAML
	Inputs   []string         // every host file read (for build-system dependencies)
}

// MaxInputFile bounds one host file copied into an image.
const MaxInputFile = 512 << 20

// Build assembles the initramfs described by m.
func Build(m *Manifest) (*Image, error) {
	arch, _ := kernel.ParseArch(m.Arch)
	img := &Image{Archive: initramfs.NewArchive()}
	a := img.Archive
	// The skeleton einit mounts over; /dev/console for the kernel's initial
	// stdin/stdout, before devtmpfs exists.
	for _, d := range []struct {
		p    string
		perm fs.FileMode
	}{{"/bin", 0o755}, {"/etc", 0o755}, {"/proc", 0o555}, {"/sys", 0o555}, {"/dev", 0o755}, {"/run", 0o755}, {"/root", 0o700}, {"/tmp", fs.ModeSticky | 0o777}} {
		if err := a.AddDir(d.p, d.perm); err != nil {
			return nil, err
		}
	}
	if err := a.AddCharDev("/dev/console", 0o600, 5, 1); err != nil {
		return nil, err
	}

	var elfs []elfFile
	addHost := func(line int, src, dst string, perm fs.FileMode, what string) error {
		data, err := readHost(src)
		if err != nil {
			return m.errf(line, "%s: %v", what, err)
		}
		img.Inputs = append(img.Inputs, src)
		if err := a.AddFile(dst, perm, data); err != nil {
			return m.errf(line, "%s: %v", what, err)
		}
		if info, ok, err := inspectELF(data); err != nil {
			return m.errf(line, "%s: %s: %v", what, src, err)
		} else if ok {
			elfs = append(elfs, elfFile{src: src, dst: cleanImagePath(dst), line: line, info: info})
		}
		return nil
	}

	if err := addHost(m.Line, m.Init, "/init", 0o755, "init"); err != nil {
		return nil, err
	}
	for _, e := range m.Entities {
		if e.Src == "" {
			continue
		}
		if err := addHost(e.Line, e.Src, e.Path, 0o755, fmt.Sprintf("entity %q", e.Name)); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Files {
		mode, _ := parseMode(f.Mode)
		if mode < 0 {
			st, err := os.Stat(f.Src)
			if err != nil {
				return nil, m.errf(f.Line, "file %s: %v", f.Dst, err)
			}
			mode = int64(st.Mode().Perm())
		}
		perm, err := initramfs.PermFromUnix(uint32(mode))
		if err != nil {
			return nil, m.errf(f.Line, "file %s: %v", f.Dst, err)
		}
		if err := addHost(f.Line, f.Src, f.Dst, perm, "file "+f.Dst); err != nil {
			return nil, err
		}
	}
	for _, d := range m.Dirs {
		mode, _ := parseMode(d.Mode)
		if mode < 0 {
			mode = 0o755
		}
		perm, _ := initramfs.PermFromUnix(uint32(mode))
		if err := a.AddDir(d.Path, perm); err != nil {
			return nil, m.errf(d.Line, "%v", err)
		}
	}
	for _, s := range m.Symlinks {
		if err := a.AddSymlink(s.Path, s.Target); err != nil {
			return nil, m.errf(s.Line, "%v", err)
		}
	}

	text, cfg, err := m.InitYAML()
	if err != nil {
		if text != nil {
			return nil, fmt.Errorf("%w\n--- the generated init.yaml ---\n%s", err, numbered(text))
		}
		return nil, err
	}
	if m.InitYAMLIn != "" {
		img.Inputs = append(img.Inputs, m.InitYAMLIn)
	}
	img.InitYAML, img.Config = text, cfg
	if err := a.AddFile("/etc/init.yaml", 0o644, text); err != nil {
		return nil, m.errf(m.Line, "/etc/init.yaml: %v (do not list it in files; the builder writes it)", err)
	}

	// Cross-checks that need the whole image.
	for _, f := range elfs {
		if f.info.machine != wantMachine(arch) {
			return nil, m.errf(f.line, "%s (%s) is an ELF for %s, but the image is %s: build it for %s (GOARCH=%s, %s-linux-gnu-gcc)",
				f.dst, f.src, f.info.machine, arch, arch, arch.Debian(), arch)
		}
		if f.info.interp != "" && resolve(a, f.info.interp, 0) == nil {
			return nil, m.errf(f.line, "%s (%s) is dynamically linked (interpreter %s), but the image has no %s: link it statically (-static, or CGO_ENABLED=0 for Go) or add the loader and its libraries with FILES",
				f.dst, f.src, f.info.interp, f.info.interp)
		}
	}
	for _, e := range cfg.Entities {
		ent := resolve(a, e.Path, 0)
		switch {
		case ent == nil:
			return nil, withListing(text, "%s: entity %q runs %s, which is not in the image (add it as an entity with src, or with FILES)", where(cfg, e), e.Name, e.Path)
		case ent.Kind != initramfs.KindFile:
			return nil, withListing(text, "%s: entity %q runs %s, which is a %s in the image", where(cfg, e), e.Name, e.Path, ent.Kind)
		case ent.Perm&0o111 == 0:
			return nil, withListing(text, "%s: entity %q runs %s, which is not executable (mode %v)", where(cfg, e), e.Name, e.Path, ent.Perm)
		}
		if interp := shebang(ent.Data); interp != "" && resolve(a, interp, 0) == nil {
			return nil, withListing(text, "%s: entity %q is a script for %s, which is not in the image", where(cfg, e), e.Name, interp)
		}
	}
	sort.Strings(img.Inputs)
	return img, nil
}

// withListing formats an error about a line of the generated init.yaml and
// appends that text with line numbers, since the user never wrote it.
func withListing(text []byte, format string, args ...any) error {
	return fmt.Errorf("%s\n--- the generated init.yaml ---\n%s", fmt.Sprintf(format, args...), numbered(text))
}

func where(cfg *inityaml.Config, e *inityaml.Entity) string {
	return fmt.Sprintf("%s:%d", cfg.File, e.Line)
}

func numbered(text []byte) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

func readHost(p string) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if st.Size() > MaxInputFile {
		return nil, fmt.Errorf("%s is %d bytes, the limit is %d", p, st.Size(), MaxInputFile)
	}
	return os.ReadFile(p)
}

// resolve follows symlinks inside the archive (at most 16) and returns the
// final entry, or nil.
func resolve(a *initramfs.Archive, p string, depth int) *initramfs.Entry {
	if depth > 16 {
		return nil
	}
	e := a.Lookup(p)
	if e == nil || e.Kind != initramfs.KindSymlink {
		return e
	}
	t := e.Target
	if !strings.HasPrefix(t, "/") {
		t = path.Join(path.Dir(cleanImagePath(p)), t)
	}
	return resolve(a, t, depth+1)
}

func shebang(data []byte) string {
	if !bytes.HasPrefix(data, []byte("#!")) {
		return ""
	}
	line := data[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

type elfInfo struct {
	machine elf.Machine
	interp  string
}

type elfFile struct {
	src, dst string
	line     int
	info     elfInfo
}

func wantMachine(a kernel.Arch) elf.Machine {
	if a == kernel.AArch64 {
		return elf.EM_AARCH64
	}
	return elf.EM_X86_64
}

// inspectELF reports the machine and program interpreter of an ELF file;
// ok is false for non-ELF data.
func inspectELF(data []byte) (info elfInfo, ok bool, err error) {
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return info, false, nil
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return info, false, fmt.Errorf("unreadable ELF file: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return info, false, nil // object files, cores: just data
	}
	info.machine = f.Machine
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			if p.Filesz == 0 || p.Filesz > 4096 {
				return info, false, fmt.Errorf("PT_INTERP of %d bytes", p.Filesz)
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return info, false, fmt.Errorf("unreadable PT_INTERP: %v", err)
			}
			info.interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	return info, true, nil
}

// Write writes the image gzip-compressed to out atomically (a temporary file
// renamed into place), and the init.yaml text to initYAMLOut if not empty.
func (img *Image) Write(out, initYAMLOut string) error {
	if initYAMLOut != "" {
		if err := writeAtomic(initYAMLOut, func(f *os.File) error { _, err := f.Write(img.InitYAML); return err }); err != nil {
			return err
		}
	}
	return writeAtomic(out, func(f *os.File) error { return img.Archive.WriteGzip(f) })
}

func writeAtomic(dst string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), dst)
}
