package initramfs

import (
	"bytes"
	"testing"
)

// FuzzReader: arbitrary input never panics and never makes the reader
// allocate beyond its limits; whatever it accepts can be written back and
// re-read to the same entries.
func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	a := NewArchive()
	a.AddFile("bin/x", 0o755, []byte("hello"))
	a.AddSymlink("bin/y", "x")
	a.AddCharDev("dev/console", 0o600, 5, 1)
	a.WriteTo(&b)
	f.Add(b.Bytes())
	f.Add([]byte("070701"))
	f.Add([]byte("07070100000001000081A4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := ReadAll(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteEntries(&out, ents); err != nil {
			t.Fatalf("re-writing accepted entries: %v", err)
		}
		again, err := ReadAll(&out, 1<<20)
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		if len(again) != len(ents) {
			t.Fatalf("round trip changed entry count %d -> %d", len(ents), len(again))
		}
		for i := range ents {
			x, y := ents[i], again[i]
			if x.Name != y.Name || x.Kind != y.Kind || x.Perm != y.Perm || !bytes.Equal(x.Data, y.Data) || x.Target != y.Target {
				t.Fatalf("entry %d changed: %+v vs %+v", i, x, y)
			}
		}
	})
}

// FuzzArchive: any sequence of adds either fails cleanly or yields an archive
// that reads back with every parent before its child.
func FuzzArchive(f *testing.F) {
	f.Add("bin/a", "bin/b/c", "/x/../y")
	f.Add("a", "a/b", "a")
	f.Fuzz(func(t *testing.T, p1, p2, p3 string) {
		a := NewArchive()
		a.AddFile(p1, 0o644, []byte(p1))
		a.AddDir(p2, 0o755)
		a.AddSymlink(p3, p1)
		var b bytes.Buffer
		if _, err := a.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		ents, err := ReadAll(&b, 0)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range ents {
			if i := bytes.LastIndexByte([]byte(e.Name), '/'); i > 0 && !seen[e.Name[:i]] {
				t.Fatalf("%s written before its parent", e.Name)
			}
			seen[e.Name] = true
		}
	})
}
