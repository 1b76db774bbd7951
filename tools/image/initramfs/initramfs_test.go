package initramfs

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sample(t *testing.T, reversed bool) *Archive {
	t.Helper()
	type add func(a *Archive) error
	steps := []add{
		func(a *Archive) error { return a.AddFile("/init", 0o755, []byte("#!init\n")) },
		func(a *Archive) error { return a.AddFile("/etc/init.yaml", 0o644, []byte("entities: []\n")) },
		func(a *Archive) error { return a.AddFile("bin/hello", 0o755, bytes.Repeat([]byte{0xAB}, 1001)) },
		func(a *Archive) error { return a.AddSymlink("/bin/sh", "hello") },
		func(a *Archive) error { return a.AddDir("/tmp", os.ModeSticky|0o777) },
		func(a *Archive) error { return a.AddCharDev("/dev/console", 0o600, 5, 1) },
		func(a *Archive) error { return a.AddDir("/usr/lib/x", 0o700) },
	}
	a := NewArchive()
	for i := range steps {
		s := steps[i]
		if reversed {
			s = steps[len(steps)-1-i]
		}
		if err := s(a); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func gz(t *testing.T, a *Archive) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := a.WriteGzip(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	a1, a2 := gz(t, sample(t, false)), gz(t, sample(t, true))
	if !bytes.Equal(a1, a2) {
		t.Fatalf("same entries added in a different order gave different bytes (%d vs %d bytes)", len(a1), len(a2))
	}
	if !bytes.Equal(a1, gz(t, sample(t, false))) {
		t.Fatal("writing the same archive twice gave different bytes")
	}
	// gzip header: no name, mtime 0.
	zr, err := gzip.NewReader(bytes.NewReader(a1))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() && zr.ModTime.Unix() != 0 || zr.Name != "" {
		t.Fatalf("gzip header not neutral: mtime %v name %q", zr.ModTime, zr.Name)
	}
}

func TestRoundTripAndLayout(t *testing.T) {
	ents, err := ReadAll(bytes.NewReader(gz(t, sample(t, false))), 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, e := range ents {
		names = append(names, e.Name)
		if e.Inode != uint32(i+1) {
			t.Errorf("%s: inode %d, want %d", e.Name, e.Inode, i+1)
		}
		if e.UID != 0 || e.GID != 0 || e.Mtime != 0 {
			t.Errorf("%s: uid/gid/mtime %d/%d/%d, want zeros", e.Name, e.UID, e.GID, e.Mtime)
		}
	}
	want := "bin bin/hello bin/sh dev dev/console etc etc/init.yaml init tmp usr usr/lib usr/lib/x"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("entries\n got %s\nwant %s", got, want)
	}
	by := map[string]*Entry{}
	for _, e := range ents {
		by[e.Name] = e
	}
	if e := by["bin/hello"]; e.Kind != KindFile || e.Perm != 0o755 || len(e.Data) != 1001 || e.Nlink != 1 {
		t.Errorf("bin/hello: %+v", e)
	}
	if e := by["bin/sh"]; e.Kind != KindSymlink || e.Target != "hello" {
		t.Errorf("bin/sh: %+v", e)
	}
	if e := by["dev/console"]; e.Kind != KindCharDev || e.Major != 5 || e.Minor != 1 || e.Perm != 0o600 {
		t.Errorf("dev/console: %+v", e)
	}
	if e := by["usr/lib"]; e.Kind != KindDir || e.Perm != 0o755 || e.Nlink != 2 {
		t.Errorf("implicit parent usr/lib: %+v", e)
	}
	if e := by["usr/lib/x"]; e.Perm != 0o700 {
		t.Errorf("usr/lib/x perm %v", e.Perm)
	}
}

// TestHeaderBytes pins the exact encoding of one record against a header
// written out by hand from the newc specification.
func TestHeaderBytes(t *testing.T) {
	a := NewArchive()
	if err := a.AddFile("a", 0o644, []byte("xy")); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := a.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "070701" + "00000001" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000002" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" +
		"a\x00" + "xy\x00\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000" +
		"TRAILER!!!\x00" + "\x00\x00\x00"
	if b.String() != want {
		t.Fatalf("bytes\n got %q\nwant %q", b.String(), want)
	}
	if b.Len()%4 != 0 {
		t.Fatalf("length %d not 4-aligned", b.Len())
	}
}

func TestAddErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func(a *Archive) error
		want string
	}{
		{"dotdot", func(a *Archive) error { return a.AddFile("/bin/../etc/x", 0o644, nil) }, `".." component`},
		{"root", func(a *Archive) error { return a.AddDir("/", 0o755) }, "root directory"},
		{"nul", func(a *Archive) error { return a.AddFile("a\x00b", 0o644, nil) }, "NUL"},
		{"twice", func(a *Archive) error {
			a.AddFile("/bin/x", 0o755, nil)
			return a.AddFile("/bin/x", 0o755, nil)
		}, "added twice"},
		{"under file", func(a *Archive) error {
			a.AddFile("/bin", 0o755, nil)
			return a.AddFile("/bin/x", 0o755, nil)
		}, "not a directory"},
		{"file over dir", func(a *Archive) error {
			a.AddFile("/bin/x", 0o755, nil)
			return a.AddFile("/bin", 0o755, nil)
		}, "already has entries below it"},
		{"dir modes", func(a *Archive) error {
			a.AddDir("/d", 0o755)
			return a.AddDir("/d", 0o700)
		}, "different modes"},
		{"type bits", func(a *Archive) error { return a.AddFile("/x", 0o755|os.ModeDir, nil) }, "bits other than permissions"},
		{"empty symlink", func(a *Archive) error { return a.AddSymlink("/x", "") }, "invalid target"},
	}
	for _, c := range cases {
		err := c.f(NewArchive())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// An explicit directory after an implicit one takes the explicit mode.
	a := NewArchive()
	if err := a.AddFile("/d/f", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.AddDir("/d", 0o700); err != nil {
		t.Fatal(err)
	}
	if a.Lookup("d").Perm != 0o700 {
		t.Fatalf("explicit mode not applied: %v", a.Lookup("d").Perm)
	}
}

func TestReaderRejects(t *testing.T) {
	good := new(bytes.Buffer)
	sample(t, false).WriteTo(good)
	bad := []struct {
		name string
		data []byte
		want string
	}{
		{"magic", append([]byte("070707"), good.Bytes()[6:]...), "bad magic"},
		{"truncated", good.Bytes()[:good.Len()-20], "truncated"},
		{"hex", append(append([]byte("070701"), 'Z'), good.Bytes()[7:]...), "not hex"},
		{"no trailer", good.Bytes()[:200], "truncated"},
	}
	for _, c := range bad {
		_, err := ReadAll(bytes.NewReader(c.data), 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := ReadAll(bytes.NewReader(good.Bytes()), 100); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("limit not enforced: %v", err)
	}
}

// TestSystemCpio checks our output with an independent implementation: GNU
// cpio must list the same names, types and modes.
func TestSystemCpio(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Fatal("cpio not found: run scripts/setup.sh (package cpio)")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "a.cpio")
	var b bytes.Buffer
	sample(t, false).WriteTo(&b)
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpio, "-itv", "--quiet", "-F", f)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"drwxr-xr-x   2 root     root            0 Jan  1  1970 bin\n",
		"-rwxr-xr-x   1 root     root         1001 Jan  1  1970 bin/hello\n",
		"lrwxrwxrwx   1 root     root            5 Jan  1  1970 bin/sh -> hello\n",
		"crw-------   1 root     root       5,   1 Jan  1  1970 dev/console\n",
		"drwxrwxrwt   2 root     root            0 Jan  1  1970 tmp\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cpio listing lacks %q:\n%s", want, got)
		}
	}
	// And extraction gives back the content.
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	cmd = exec.Command(cpio, "-id", "--quiet", "--no-absolute-filenames", "-F", f)
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(x, "etc/init.yaml"))
	if err != nil || string(data) != "entities: []\n" {
		t.Fatalf("extracted etc/init.yaml = %q, %v", data, err)
	}
}

func TestReaderEOFAfterTrailer(t *testing.T) {
	var b bytes.Buffer
	NewArchive().WriteTo(&b)
	r := NewReader(&b)
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("empty archive: %v", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after trailer: %v", err)
	}
}
