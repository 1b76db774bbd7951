// Package kernel finds the Linux kernel a KCFM QEMU image boots: Debian's
// cloud kernel for arm64 or amd64, resolved from the linux-image-cloud-<arch>
// metapackage (the ABI version in the package name changes with every Debian
// point release, so it is never written down anywhere), fetched with
// apt-get download into a private apt state, unpacked with dpkg-deb, and kept
// in a cache directory keyed by package, version and architecture. A cached
// kernel is never downloaded again.
//
// The private apt state (one per architecture, inside the cache) reads the
// host's sources but keeps its own lists, status and archives, with
// APT::Architecture set to the target: the host's dpkg and apt lists are
// never touched and no "dpkg --add-architecture" is needed.
package kernel

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Arch is a target architecture in QEMU/GNU spelling.
type Arch string

// Supported architectures.
const (
	AArch64 Arch = "aarch64"
	X86_64  Arch = "x86_64"
)

// ParseArch accepts the GNU (aarch64, x86_64) and Debian/Go (arm64, amd64)
// spellings.
func ParseArch(s string) (Arch, error) {
	switch s {
	case "aarch64", "arm64":
		return AArch64, nil
	case "x86_64", "amd64", "x86-64":
		return X86_64, nil
	}
	return "", fmt.Errorf("unknown architecture %q (expected aarch64 or x86_64)", s)
}

// Debian is the Debian architecture name (arm64, amd64), also GOARCH.
func (a Arch) Debian() string {
	if a == AArch64 {
		return "arm64"
	}
	return "amd64"
}

// Metapackage is the Debian package that always depends on the current cloud kernel.
func (a Arch) Metapackage() string { return "linux-image-cloud-" + a.Debian() }

// Kernel is a resolved, cached kernel image.
type Kernel struct {
	Arch    Arch   `json:"arch"`
	Package string `json:"package"` // e.g. linux-image-6.1.0-57-cloud-arm64
	Version string `json:"version"` // Debian version, e.g. 6.1.192-3
	Release string `json:"release"` // uname -r of the kernel, from boot/vmlinuz-<release>
	Size    int64  `json:"size"`
	Path    string `json:"-"`       // the kernel image in the cache
	Cached  bool   `json:"-"`       // true when no download was needed
	Fetched string `json:"fetched"` // RFC 3339 time of the download
}

// Command is one external program run by the cache.
type Command struct {
	Name   string
	Args   []string
	Env    []string // added to the environment
	Dir    string
	Stdout io.Writer // nil: collected and returned by Run
}

// Runner runs commands; tests replace it. Errors should include stderr.
type Runner interface {
	Run(ctx context.Context, c Command) ([]byte, error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	} else {
		cmd.Stdout = &out
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s not found: run scripts/setup.sh (it needs apt and dpkg)", c.Name)
		}
		return out.Bytes(), fmt.Errorf("%s %s: %v: %s", c.Name, strings.Join(c.Args, " "), err, tail(errb.String(), 800))
	}
	return out.Bytes(), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// Cache resolves and stores kernels.
type Cache struct {
	Dir        string        // cache root
	Runner     Runner        // default ExecRunner
	Log        io.Writer     // progress messages; default io.Discard
	AptEtc     string        // host apt configuration to read sources from; default /etc/apt
	MaxListAge time.Duration // refresh the private apt lists when older; default 24h
	Now        func() time.Time
}

// DefaultDir is the default cache root: $KCFM_KERNEL_CACHE, else
// <user cache dir>/kcfm/kernels.
func DefaultDir() string {
	if d := os.Getenv("KCFM_KERNEL_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "kcfm", "kernels")
}

func (c *Cache) runner() Runner {
	if c.Runner == nil {
		return ExecRunner{}
	}
	return c.Runner
}

func (c *Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Cache) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "kcfm image kernel: "+format+"\n", args...)
	}
}

// ErrUnavailable is wrapped when the kernel cannot be resolved or fetched
// (Debian mirror unreachable, package gone, tools missing).
var ErrUnavailable = errors.New("kernel unavailable")

// Resolve returns the current cloud kernel for arch, downloading it unless
// the cache already holds that package version.
func (c *Cache) Resolve(ctx context.Context, arch Arch) (*Kernel, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := c.lock(arch)
	if err != nil {
		return nil, err
	}
	defer unlock()

	apt, err := c.aptState(arch)
	if err != nil {
		return nil, err
	}
	updated := false
	var updateErr error
	if c.listsStale(apt) {
		c.logf("updating the private %s apt lists in %s", arch.Debian(), apt.dir)
		updateErr = apt.update(ctx)
		updated = updateErr == nil
		if updateErr != nil {
			c.logf("warning: %v", updateErr)
		}
	}
	pkg, ver, err := apt.resolve(ctx, arch)
	if err != nil {
		if updateErr != nil {
			return nil, fmt.Errorf("%w: resolving %s: %v (apt-get update failed before: %v; check access to the Debian mirrors listed in %s, or use --offline with a kernel already in %s)",
				ErrUnavailable, arch.Metapackage(), err, updateErr, c.aptEtc(), c.Dir)
		}
		return nil, fmt.Errorf("%w: resolving %s: %v", ErrUnavailable, arch.Metapackage(), err)
	}
	if k, err := c.lookup(arch, pkg, ver); err == nil {
		k.Cached = true
		return k, nil
	}
	c.logf("downloading %s %s (%s)", pkg, ver, arch.Debian())
	deb, err := apt.download(ctx, pkg, ver)
	if err != nil && !updated {
		// Old lists can point at a version the mirror no longer has.
		c.logf("download failed (%v); refreshing the apt lists and retrying", err)
		if uerr := apt.update(ctx); uerr == nil {
			if pkg, ver, err = apt.resolve(ctx, arch); err == nil {
				if k, lerr := c.lookup(arch, pkg, ver); lerr == nil {
					k.Cached = true
					return k, nil
				}
				deb, err = apt.download(ctx, pkg, ver)
			}
		} else {
			err = fmt.Errorf("%v; apt-get update: %v", err, uerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: downloading %s=%s: %v (check access to the Debian mirrors listed in %s)", ErrUnavailable, pkg, ver, err, c.aptEtc())
	}
	defer os.Remove(deb)
	return c.extract(ctx, arch, pkg, ver, deb)
}

// Latest returns the most recently fetched kernel of arch in the cache,
// without asking apt (for offline use).
func (c *Cache) Latest(arch Arch) (*Kernel, error) {
	entries, err := filepath.Glob(filepath.Join(c.Dir, "*_"+arch.Debian(), "kernel.json"))
	if err != nil {
		return nil, err
	}
	var best *Kernel
	for _, meta := range entries {
		k, err := readMeta(filepath.Dir(meta))
		if err != nil {
			continue
		}
		if best == nil || k.Fetched > best.Fetched {
			best = k
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no %s kernel in %s (run kcfm image kernel --arch %s once with network access)", ErrUnavailable, arch, c.Dir, arch)
	}
	best.Cached = true
	return best, nil
}

func entryName(arch Arch, pkg, ver string) string {
	// Debian versions may contain ':' (epochs); keep file names portable.
	return strings.NewReplacer(":", "%3a", "/", "_").Replace(pkg + "_" + ver + "_" + arch.Debian())
}

func (c *Cache) lookup(arch Arch, pkg, ver string) (*Kernel, error) {
	k, err := readMeta(filepath.Join(c.Dir, entryName(arch, pkg, ver)))
	if err != nil {
		return nil, err
	}
	if k.Package != pkg || k.Version != ver || k.Arch != arch {
		return nil, fmt.Errorf("cache entry %s describes %s %s %s", k.Path, k.Package, k.Version, k.Arch)
	}
	return k, nil
}

func readMeta(dir string) (*Kernel, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	k.Path = filepath.Join(dir, "vmlinuz")
	st, err := os.Stat(k.Path)
	if err != nil {
		return nil, err
	}
	if st.Size() != k.Size || k.Size == 0 {
		return nil, fmt.Errorf("%s: size %d, kernel.json says %d", k.Path, st.Size(), k.Size)
	}
	return &k, nil
}

// lock serialises cache updates for one architecture across processes
// (parallel ctest runs share the cache).
func (c *Cache) lock(arch Arch) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, ".lock-"+arch.Debian()), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

func (c *Cache) aptEtc() string {
	if c.AptEtc == "" {
		return "/etc/apt"
	}
	return c.AptEtc
}

func (c *Cache) listsStale(a *aptState) bool {
	age := c.MaxListAge
	if age == 0 {
		age = 24 * time.Hour
	}
	st, err := os.Stat(filepath.Join(a.dir, "lists.stamp"))
	return err != nil || c.now().Sub(st.ModTime()) > age
}

// extract takes boot/vmlinuz-* out of the package's data archive.
func (c *Cache) extract(ctx context.Context, arch Arch, pkg, ver, deb string) (*Kernel, error) {
	dir := filepath.Join(c.Dir, entryName(arch, pkg, ver))
	tmp, err := os.MkdirTemp(c.Dir, ".extract-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	pr, pw := io.Pipe()
	type found struct {
		release string
		size    int64
		err     error
	}
	done := make(chan found, 1)
	go func() {
		f := found{}
		tr := tar.NewReader(bufio.NewReader(pr))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.err = fmt.Errorf("reading the data archive of %s: %v", filepath.Base(deb), err)
				break
			}
			name := strings.TrimPrefix(h.Name, "./")
			if f.release == "" && h.Typeflag == tar.TypeReg && strings.HasPrefix(name, "boot/vmlinuz-") {
				if h.Size <= 0 || h.Size > 512<<20 {
					f.err = fmt.Errorf("%s in %s has implausible size %d", name, filepath.Base(deb), h.Size)
					break
				}
				out, err := os.Create(filepath.Join(tmp, "vmlinuz"))
				if err == nil {
					f.size, err = io.Copy(out, tr)
					if cerr := out.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					f.err = err
					break
				}
				f.release = strings.TrimPrefix(name, "boot/vmlinuz-")
			}
		}
		io.Copy(io.Discard, pr) // let dpkg-deb finish writing
		done <- f
	}()
	_, rerr := c.runner().Run(ctx, Command{Name: "dpkg-deb", Args: []string{"--fsys-tarfile", deb}, Stdout: pw})
	pw.Close()
	f := <-done
	if rerr != nil {
		return nil, fmt.Errorf("%w: unpacking %s: %v", ErrUnavailable, filepath.Base(deb), rerr)
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.release == "" {
		return nil, fmt.Errorf("%s has no boot/vmlinuz-* (is %s a kernel image package?)", filepath.Base(deb), pkg)
	}
	k := &Kernel{Arch: arch, Package: pkg, Version: ver, Release: f.release, Size: f.size, Fetched: c.now().UTC().Format(time.RFC3339Nano)}
	meta, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "kernel.json"), append(meta, '\n'), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir) // a broken entry from an interrupted run
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	k.Path = filepath.Join(dir, "vmlinuz")
	c.logf("cached %s %s as %s", pkg, ver, k.Path)
	return k, nil
}

// aptState is a private apt configuration for one architecture.
type aptState struct {
	dir    string
	conf   string
	runner Runner
}

func (c *Cache) aptState(arch Arch) (*aptState, error) {
	dir := filepath.Join(c.Dir, "apt-"+arch.Debian())
	for _, d := range []string{"lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d", "download"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	status := filepath.Join(dir, "status")
	if _, err := os.Stat(status); err != nil {
		if err := os.WriteFile(status, nil, 0o644); err != nil {
			return nil, err
		}
	}
	// Sources: the host's .list and .sources files (apt ignores other names).
	etc := c.aptEtc()
	srcDir := filepath.Join(dir, "etc/sources.list.d")
	old, _ := filepath.Glob(filepath.Join(srcDir, "*"))
	for _, f := range old {
		os.Remove(f)
	}
	var srcs []string
	if _, err := os.Stat(filepath.Join(etc, "sources.list")); err == nil {
		srcs = append(srcs, filepath.Join(etc, "sources.list"))
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", pat))
		srcs = append(srcs, m...)
	}
	sort.Strings(srcs)
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: no apt sources in %s (sources.list or sources.list.d/*.list|*.sources)", ErrUnavailable, etc)
	}
	for i, s := range srcs {
		data, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		ext := filepath.Ext(s)
		if filepath.Base(s) == "sources.list" {
			ext = ".list"
		}
		if err := os.WriteFile(filepath.Join(srcDir, fmt.Sprintf("%02d-%s%s", i, strings.TrimSuffix(filepath.Base(s), filepath.Ext(s)), ext)), data, 0o644); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "apt.conf")
	text := fmt.Sprintf(`// Private apt state of kcfm image kernel (generated; do not edit).
APT::Architecture "%[2]s";
APT::Architectures { "%[2]s"; };
Dir::State "%[1]s";
Dir::State::Lists "%[1]s/lists";
Dir::State::status "%[1]s/status";
Dir::Cache "%[1]s/cache";
Dir::Etc::SourceList "%[1]s/etc/none.list";
Dir::Etc::SourceParts "%[1]s/etc/sources.list.d";
Dir::Etc::PreferencesParts "%[1]s/etc/preferences.d";
Acquire::Languages "none";
`, dir, arch.Debian())
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return &aptState{dir: dir, conf: conf, runner: c.runner()}, nil
}

func (a *aptState) env() []string { return []string{"APT_CONFIG=" + a.conf, "LC_ALL=C"} }

func (a *aptState) update(ctx context.Context) error {
	if _, err := a.runner.Run(ctx, Command{Name: "apt-get", Args: []string{"-q", "update"}, Env: a.env()}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(a.dir, "lists.stamp"), nil, 0o644)
}

// resolve reads the metapackage's candidate and picks its linux-image dependency.
func (a *aptState) resolve(ctx context.Context, arch Arch) (pkg, ver string, err error) {
	out, err := a.runner.Run(ctx, Command{Name: "apt-cache", Args: []string{"show", "--no-all-versions", arch.Metapackage()}, Env: a.env()})
	if err != nil {
		return "", "", err
	}
	pkg, ver, err = KernelDependency(out, arch)
	if err != nil {
		return "", "", err
	}
	if ver == "" {
		out, err := a.runner.Run(ctx, Command{Name: "apt-cache", Args: []string{"show", "--no-all-versions", pkg}, Env: a.env()})
		if err != nil {
			return "", "", err
		}
		recs, err := ParseControl(out)
		if err != nil || len(recs) == 0 || recs[0]["Version"] == "" {
			return "", "", fmt.Errorf("apt-cache show %s gave no Version", pkg)
		}
		ver = recs[0]["Version"]
	}
	return pkg, ver, nil
}

func (a *aptState) download(ctx context.Context, pkg, ver string) (string, error) {
	dl := filepath.Join(a.dir, "download")
	old, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	for _, f := range old {
		os.Remove(f)
	}
	if _, err := a.runner.Run(ctx, Command{Name: "apt-get", Args: []string{"-q", "download", pkg + "=" + ver}, Env: a.env(), Dir: dl}); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s=%s left %d .deb files in %s", pkg, ver, len(debs), dl)
	}
	return debs[0], nil
}

var reKernelDep = regexp.MustCompile(`^linux-image-[0-9][A-Za-z0-9.+~-]*$`)

// KernelDependency picks the versioned kernel package out of the metapackage
// record printed by apt-cache show (first record: the candidate). The version
// is taken from an "(= V)" constraint when present.
func KernelDependency(control []byte, arch Arch) (pkg, ver string, err error) {
	recs, err := ParseControl(control)
	if err != nil {
		return "", "", err
	}
	if len(recs) == 0 {
		return "", "", fmt.Errorf("apt-cache printed no record for %s", arch.Metapackage())
	}
	rec := recs[0]
	if rec["Package"] != arch.Metapackage() {
		return "", "", fmt.Errorf("apt-cache record is for %q, not %s", rec["Package"], arch.Metapackage())
	}
	if a := rec["Architecture"]; a != "" && a != arch.Debian() && a != "all" {
		return "", "", fmt.Errorf("%s has architecture %s, want %s (private apt state not in effect?)", arch.Metapackage(), a, arch.Debian())
	}
	for _, alt := range strings.Split(rec["Depends"], ",") {
		// "pkg (op ver)" or "pkg | other"; take the first alternative.
		dep := strings.TrimSpace(strings.Split(alt, "|")[0])
		name, rest, _ := strings.Cut(dep, " ")
		name = strings.TrimSuffix(name, ":"+arch.Debian())
		if !reKernelDep.MatchString(name) || !strings.HasSuffix(name, "-"+arch.Debian()) {
			continue
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "(=") && strings.HasSuffix(rest, ")") {
			ver = strings.TrimSpace(rest[2 : len(rest)-1])
		}
		return name, ver, nil
	}
	return "", "", fmt.Errorf("%s %s depends on no linux-image-<abi>-…-%s package (Depends: %s)", arch.Metapackage(), rec["Version"], arch.Debian(), rec["Depends"])
}

// ParseControl parses deb822 records (apt-cache show output): fields
// "Name: value", continuation lines starting with a space, records separated
// by blank lines. Input is bounded to 4 MiB and 10000 fields.
func ParseControl(data []byte) ([]map[string]string, error) {
	if len(data) > 4<<20 {
		return nil, fmt.Errorf("control data of %d bytes exceeds 4 MiB", len(data))
	}
	var recs []map[string]string
	var cur map[string]string
	last, fields := "", 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			if cur != nil {
				recs = append(recs, cur)
				cur, last = nil, ""
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == nil || last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", i+1)
			}
			cur[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: expected \"Field: value\", got %q", i+1, tail(line, 80))
		}
		if fields++; fields > 10000 {
			return nil, fmt.Errorf("more than 10000 fields")
		}
		if cur == nil {
			cur = map[string]string{}
		}
		if _, dup := cur[k]; dup {
			return nil, fmt.Errorf("line %d: field %s repeated in one record", i+1, k)
		}
		cur[k] = strings.TrimSpace(v)
		last = k
	}
	if cur != nil {
		recs = append(recs, cur)
	}
	return recs, nil
}
