package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const metaShow = `Package: linux-image-cloud-arm64
Source: linux-signed-arm64 (6.1.192+3)
Version: 6.1.192-3
Architecture: arm64
Provides: linux-latest-modules-6.1.0-57-cloud-arm64
Depends: linux-image-6.1.0-57-cloud-arm64 (= 6.1.192-3)
Description: Linux for arm64 cloud (meta-package)
 continuation line

`

// fakeApt answers apt commands from canned data and delegates dpkg-deb to
// the real tool (so the extraction path is exercised for real).
type fakeApt struct {
	mu        sync.Mutex
	calls     []string
	deb       string // .deb that "apt-get download" provides
	show      string
	updateErr error
	dlErr     error
}

func (f *fakeApt) Run(ctx context.Context, c Command) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.Name+" "+strings.Join(c.Args, " "))
	f.mu.Unlock()
	if c.Name != "dpkg-deb" {
		found := false
		for _, e := range c.Env {
			if strings.HasPrefix(e, "APT_CONFIG=") {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s run without the private APT_CONFIG", c.Name)
		}
	}
	switch {
	case c.Name == "apt-get" && c.Args[1] == "update":
		return nil, f.updateErr
	case c.Name == "apt-cache":
		if f.show == "" {
			return nil, errors.New("E: No packages found")
		}
		return []byte(f.show), nil
	case c.Name == "apt-get" && c.Args[1] == "download":
		if f.dlErr != nil {
			return nil, f.dlErr
		}
		data, err := os.ReadFile(f.deb)
		if err != nil {
			return nil, err
		}
		return nil, os.WriteFile(filepath.Join(c.Dir, "k_1_arm64.deb"), data, 0o644)
	case c.Name == "dpkg-deb":
		return ExecRunner{}.Run(ctx, c)
	}
	return nil, fmt.Errorf("unexpected command %s", c.Name)
}

func (f *fakeApt) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// buildDeb makes a real (tiny) kernel package with dpkg-deb.
func buildDeb(t *testing.T, kernel []byte) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatal("dpkg-deb not found: run scripts/setup.sh")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.MkdirAll(filepath.Join(root, "lib/modules/6.1.0-57-cloud-arm64"), 0o755)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte("Package: linux-image-6.1.0-57-cloud-arm64\nVersion: 6.1.192-3\nArchitecture: arm64\nMaintainer: test <t@example.org>\nDescription: test kernel\n"), 0o644)
	os.WriteFile(filepath.Join(root, "boot/config-6.1.0-57-cloud-arm64"), []byte("CONFIG_X=y\n"), 0o644)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-57-cloud-arm64"), kernel, 0o644)
	os.WriteFile(filepath.Join(root, "lib/modules/6.1.0-57-cloud-arm64/x.ko"), []byte("module"), 0o644)
	deb := filepath.Join(t.TempDir(), "k.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

func aptEtc(t *testing.T) string {
	etc := t.TempDir()
	os.MkdirAll(filepath.Join(etc, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(etc, "sources.list.d/debian.sources"), []byte("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "sources.list.d/other.list.disabled"), []byte("junk"), 0o644)
	return etc
}

func TestResolveDownloadsOnceThenUsesCache(t *testing.T) {
	image := bytes.Repeat([]byte("ARM64 Image "), 1000)
	fake := &fakeApt{deb: buildDeb(t, image), show: metaShow}
	var log bytes.Buffer
	c := &Cache{Dir: t.TempDir(), Runner: fake, AptEtc: aptEtc(t), Log: &log}
	k, err := c.Resolve(context.Background(), AArch64)
	if err != nil {
		t.Fatal(err)
	}
	if k.Cached || k.Package != "linux-image-6.1.0-57-cloud-arm64" || k.Version != "6.1.192-3" || k.Release != "6.1.0-57-cloud-arm64" {
		t.Fatalf("kernel %+v", k)
	}
	got, err := os.ReadFile(k.Path)
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("cached image differs from the package's boot/vmlinuz (%v)", err)
	}
	if want := filepath.Join(c.Dir, "linux-image-6.1.0-57-cloud-arm64_6.1.192-3_arm64", "vmlinuz"); k.Path != want {
		t.Errorf("path %s, want %s", k.Path, want)
	}
	// The private state only holds the sources apt would read.
	srcs, _ := filepath.Glob(filepath.Join(c.Dir, "apt-arm64/etc/sources.list.d/*"))
	if len(srcs) != 1 || !strings.HasSuffix(srcs[0], "debian.sources") {
		t.Errorf("private sources %v", srcs)
	}
	conf, _ := os.ReadFile(filepath.Join(c.Dir, "apt-arm64/apt.conf"))
	if !strings.Contains(string(conf), `APT::Architecture "arm64";`) {
		t.Errorf("apt.conf lacks the architecture:\n%s", conf)
	}
	if fake.count("apt-get -q update") != 1 || fake.count("apt-get -q download linux-image-6.1.0-57-cloud-arm64=6.1.192-3") != 1 {
		t.Fatalf("calls %v", fake.calls)
	}

	// Second time: same version resolved, no download, no update (fresh lists).
	k2, err := c.Resolve(context.Background(), AArch64)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Cached || k2.Path != k.Path {
		t.Fatalf("second resolve %+v", k2)
	}
	if fake.count("apt-get -q download") != 1 || fake.count("apt-get -q update") != 1 {
		t.Fatalf("cache not used: calls %v", fake.calls)
	}

	// Lists older than MaxListAge are refreshed, the kernel still comes from the cache.
	c.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if _, err := c.Resolve(context.Background(), AArch64); err != nil {
		t.Fatal(err)
	}
	if fake.count("apt-get -q update") != 2 || fake.count("apt-get -q download") != 1 {
		t.Fatalf("stale lists: calls %v", fake.calls)
	}

	// Offline: Latest needs no apt at all.
	calls := len(fake.calls)
	l, err := c.Latest(AArch64)
	if err != nil || l.Path != k.Path || len(fake.calls) != calls {
		t.Fatalf("Latest: %+v %v", l, err)
	}
	if _, err := c.Latest(X86_64); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Latest of an uncached arch: %v", err)
	}
}

func TestResolveUsesPreSeededCacheEntry(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "linux-image-6.1.0-57-cloud-arm64_6.1.192-3_arm64")
	os.MkdirAll(entry, 0o755)
	os.WriteFile(filepath.Join(entry, "vmlinuz"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(entry, "kernel.json"), []byte(`{"arch":"aarch64","package":"linux-image-6.1.0-57-cloud-arm64","version":"6.1.192-3","release":"6.1.0-57-cloud-arm64","size":6}`), 0o644)
	fake := &fakeApt{show: metaShow} // no .deb: a download would fail
	c := &Cache{Dir: dir, Runner: fake, AptEtc: aptEtc(t)}
	k, err := c.Resolve(context.Background(), AArch64)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Cached || k.Path != filepath.Join(entry, "vmlinuz") || fake.count("apt-get -q download") != 0 {
		t.Fatalf("%+v calls %v", k, fake.calls)
	}
	// A corrupt entry (size mismatch) is not trusted.
	os.WriteFile(filepath.Join(entry, "vmlinuz"), []byte("truncated"), 0o644)
	fake.dlErr = errors.New("404 Not Found")
	if _, err := c.Resolve(context.Background(), AArch64); err == nil || !strings.Contains(err.Error(), "downloading linux-image-6.1.0-57-cloud-arm64=6.1.192-3") {
		t.Fatalf("corrupt entry: %v", err)
	}
	if fake.count("apt-get -q download") != 2 { // first try, then after refreshing lists
		t.Fatalf("calls %v", fake.calls)
	}
}

func TestResolveUnreachable(t *testing.T) {
	fake := &fakeApt{updateErr: errors.New("E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not resolve 'deb.debian.org'")}
	c := &Cache{Dir: t.TempDir(), Runner: fake, AptEtc: aptEtc(t)}
	_, err := c.Resolve(context.Background(), AArch64)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v does not wrap ErrUnavailable", err)
	}
	for _, want := range []string{"resolving linux-image-cloud-arm64", "Could not resolve 'deb.debian.org'", "--offline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	c.AptEtc = t.TempDir()
	if _, err := c.Resolve(context.Background(), AArch64); err == nil || !strings.Contains(err.Error(), "no apt sources in") {
		t.Fatalf("no sources: %v", err)
	}
}

func TestKernelDependency(t *testing.T) {
	pkg, ver, err := KernelDependency([]byte(metaShow), AArch64)
	if err != nil || pkg != "linux-image-6.1.0-57-cloud-arm64" || ver != "6.1.192-3" {
		t.Fatalf("%s %s %v", pkg, ver, err)
	}
	pkg, ver, err = KernelDependency([]byte("Package: linux-image-cloud-amd64\nDepends: initramfs-tools | linux-initramfs-tool, linux-image-6.2.0-1-cloud-amd64\n"), X86_64)
	if err != nil || pkg != "linux-image-6.2.0-1-cloud-amd64" || ver != "" {
		t.Fatalf("%s %q %v", pkg, ver, err)
	}
	bad := []struct{ in, want string }{
		{"", "no record"},
		{"Package: linux-image-cloud-arm64\nArchitecture: amd64\nDepends: x\n", "architecture amd64, want arm64"},
		{"Package: linux-image-cloud-arm64\nVersion: 1\nDepends: linux-headers-6.1.0-57-cloud-arm64\n", "depends on no linux-image-<abi>"},
		{"Package: other\n", `not linux-image-cloud-arm64`},
		{" cont\n", "continuation line without a field"},
		{"Package x\n", `expected "Field: value"`},
	}
	for _, b := range bad {
		if _, _, err := KernelDependency([]byte(b.in), AArch64); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want %q", b.in, err, b.want)
		}
	}
}

func TestParseArch(t *testing.T) {
	for in, want := range map[string]Arch{"aarch64": AArch64, "arm64": AArch64, "x86_64": X86_64, "amd64": X86_64} {
		if a, err := ParseArch(in); err != nil || a != want {
			t.Errorf("%s: %v %v", in, a, err)
		}
	}
	if _, err := ParseArch("riscv64"); err == nil {
		t.Error("riscv64 accepted")
	}
	if AArch64.Metapackage() != "linux-image-cloud-arm64" || X86_64.Debian() != "amd64" {
		t.Error("names")
	}
}
