package libcsum

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func sample() *Summary {
	return &Summary{Format: Format, Version: Version, Libc: "glibc", LibcVersion: "2.36", Arch: "x86_64",
		BuildID: "abcd", Soname: "libc.so.6", Functions: map[string]Func{
			"read":               {Syscalls: []int{0}},
			"__read":             {Syscalls: []int{0}},
			"syscall":            {Syscalls: []int{}, NrArg: 1, Notes: []string{"system call number taken from argument 1"}},
			"memcpy@GLIBC_2.2.5": {Syscalls: []int{}},
			"memcpy":             {Syscalls: []int{1, 2}, UnknownSyscall: true},
			"getpwnam":           {Syscalls: []int{0, 1, 2, 3, 257}, LoadsCode: true},
			"sscanf":             {Syscalls: []int{}},
			"__cxa_atexit":       {Syscalls: []int{}},
			"pread":              {Syscalls: []int{17, 202}, Cancellation: true, Fatal: true},
			"pthread_cancel":     {Syscalls: []int{200}, Cancellation: true},
		},
		Cancellation:   &Func{Syscalls: []int{60, 202}, Fatal: true},
		CancelTriggers: []string{"pthread_cancel"},
		Fatal:          &Func{Syscalls: []int{1, 2, 62}, LoadsCode: true, Fatal: true},
		Dying:          &Func{Syscalls: []int{1, 62, 234}, Fatal: true},
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	s := sample()
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := s.Marshal()
	if !bytes.Equal(b, b2) {
		t.Fatal("Marshal is not deterministic")
	}
	got, err := Parse(b, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip changed the summary:\n%+v\n%+v", got, s)
	}
	// identical sets are shared on disk
	var fs fileSummary
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Functions["read"].Set != fs.Functions["__read"].Set || len(fs.Sets) != 9 {
		t.Errorf("identical sets not shared: %d sets\n%s", len(fs.Sets), b)
	}
}

func TestLookup(t *testing.T) {
	s := sample()
	for _, c := range []struct {
		name string
		want []int
		ok   bool
	}{
		{"read", []int{0}, true},
		{"__read", []int{0}, true},
		{"memcpy@@GLIBC_2.14", []int{1, 2}, true},
		{"memcpy@GLIBC_2.2.5", []int{}, true},
		{"memcpy@GLIBC_9.9", []int{1, 2}, true},
		{"__isoc99_sscanf", []int{}, true},
		{"atexit", []int{}, true},
		{"no_such_function", nil, false},
	} {
		f, ok := s.Lookup(c.name)
		if ok != c.ok || (ok && !reflect.DeepEqual(f.Syscalls, c.want)) {
			t.Errorf("Lookup(%q) = %v,%v want %v,%v", c.name, f.Syscalls, ok, c.want, c.ok)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := sample().Marshal()
	cases := map[string]string{
		"not json":        "hello",
		"wrong format":    strings.Replace(string(good), Format, "other", 1),
		"wrong version":   strings.Replace(string(good), `"version": 2`, `"version": 99`, 1),
		"v1 with paths":   strings.Replace(string(good), `"version": 2`, `"version": 1`, 1),
		"fatal, no dying": strings.Replace(string(good), `"dying"`, `"dyingX"`, 1),
		"bad trigger": strings.Replace(string(good), `"pthread_cancel"
 ]`, `"pthread cancel"
 ]`, 1),
		"wrong arch":       strings.Replace(string(good), `"arch": "x86_64"`, `"arch": "mips"`, 1),
		"wrong libc":       strings.Replace(string(good), `"libc": "glibc"`, `"libc": "bionic"`, 1),
		"bad build id":     strings.Replace(string(good), `"build_id": "abcd"`, `"build_id": "XYZ"`, 1),
		"unknown field":    strings.Replace(string(good), `"soname"`, `"extra": 1, "soname"`, 1),
		"trailing data":    string(good) + "{}",
		"set out of range": strings.Replace(string(good), `"set": 0`, `"set": 999`, 1),
		"bad nr arg":       strings.Replace(string(good), `"nr_arg": 1`, `"nr_arg": 9`, 1),
	}
	for name, in := range cases {
		if in == string(good) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := Parse([]byte(in), "t.json"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// a path with nr_arg, and without the dying set
	var fs fileSummary
	if err := json.Unmarshal(good, &fs); err != nil {
		t.Fatal(err)
	}
	fs.Fatal.NrArg = 1
	b, _ := json.Marshal(fs)
	if _, err := Parse(b, "t.json"); err == nil || !strings.Contains(err.Error(), "nr_arg") {
		t.Errorf("path with nr_arg: %v", err)
	}
	fs.Fatal.NrArg, fs.Dying = 0, nil
	b, _ = json.Marshal(fs)
	if _, err := Parse(b, "t.json"); err == nil || !strings.Contains(err.Error(), "dying") {
		t.Errorf("fatal without dying: %v", err)
	}
	// version 1 files (before the rules) are still read
	v1 := `{"format":"kcfm-libc-summary","version":1,"libc":"musl","libc_version":"1.2.3","arch":"x86_64","build_id":"","soname":"libc.so","sets":[[0]],"functions":{"read":{"set":0}}}`
	if s, err := Parse([]byte(v1), "v1.json"); err != nil || s.Cancellation != nil || s.Version != 1 {
		t.Errorf("version 1: %v %+v", err, s)
	}
	bad := `{"format":"kcfm-libc-summary","version":1,"libc":"musl","libc_version":"1.2.3","arch":"x86_64","build_id":"","soname":"libc.so","sets":[[0]],"functions":{"read":{"set":0,"fatal_path":true}}}`
	if _, err := Parse([]byte(bad), "v1.json"); err == nil {
		t.Error("version 1 with fatal_path accepted")
	}
	// numbers outside the table, unsorted sets
	for _, sets := range []string{`[[999999]]`, `[[-1]]`, `[[2, 1]]`, `[[1, 1]]`} {
		in := `{"format":"kcfm-libc-summary","version":1,"libc":"musl","libc_version":"1.2.3","arch":"x86_64","build_id":"","soname":"libc.so","sets":` + sets + `,"functions":{"f":{"set":0}}}`
		if _, err := Parse([]byte(in), "t.json"); err == nil {
			t.Errorf("sets %s accepted", sets)
		}
	}
	if _, err := Parse([]byte(`{"format": 1`), "t.json"); err == nil || !strings.Contains(err.Error(), "t.json") {
		t.Errorf("syntax error without file name: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	for _, libc := range []string{"glibc", "musl"} {
		for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
			s, err := Embedded(libc, arch)
			if err != nil {
				t.Fatalf("Embedded(%s, %s): %v", libc, arch, err)
			}
			if s.Libc != libc || s.Arch != string(arch) || s.BuildID == "" || s.Soname == "" || s.LibcVersion == "" {
				t.Errorf("%s/%s: identity %+v", libc, arch, []string{s.Libc, s.Arch, s.BuildID, s.Soname, s.LibcVersion})
			}
			if len(s.Functions) < 1000 {
				t.Errorf("%s/%s: only %d functions", libc, arch, len(s.Functions))
			}
			tbl := sysnum.For(arch)
			getpid, _ := tbl.Nr("getpid")
			f, ok := s.Lookup("getpid")
			if !ok || !reflect.DeepEqual(f.Syscalls, []int{getpid}) {
				t.Errorf("%s/%s: getpid = %v", libc, arch, f.Syscalls)
			}
			read, _ := tbl.Nr("read")
			f, _ = s.Lookup("read")
			if !contains(f.Syscalls, read) {
				t.Errorf("%s/%s: read lacks the read syscall: %v", libc, arch, f.Syscalls)
			}
			if f, _ := s.Lookup("syscall"); f.NrArg != 1 {
				t.Errorf("%s/%s: syscall() NrArg = %d", libc, arch, f.NrArg)
			}
			if f, ok := s.Lookup("strlen"); !ok || len(f.Syscalls) != 0 {
				t.Errorf("%s/%s: strlen = %v", libc, arch, f.Syscalls)
			}
			ct, _ := tbl.Nr("clock_gettime")
			if f, _ := s.Lookup("clock_gettime"); !contains(f.Syscalls, ct) {
				t.Errorf("%s/%s: clock_gettime lacks its vDSO fallback", libc, arch)
			}
		}
	}
	if _, err := Embedded("bionic", sysnum.X86_64); err == nil {
		t.Error("bionic accepted")
	}
	if _, err := Embedded("glibc", "mips"); err == nil {
		t.Error("mips accepted")
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestEmbeddedUpToDate regenerates the checked-in summaries whose libc is
// installed here with the same build id, and requires identical output. A
// different build id (a newer Debian libc6 point release) is reported: the
// soundness test then still checks a freshly generated summary of it.
func TestEmbeddedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerates summaries; skipped with -short")
	}
	checked := 0
	for _, c := range []struct {
		libc, path string
		arch       sysnum.Arch
	}{
		{"glibc", "/lib/x86_64-linux-gnu/libc.so.6", sysnum.X86_64},
		{"glibc", "/usr/aarch64-linux-gnu/lib/libc.so.6", sysnum.AArch64},
		{"musl", "/lib/x86_64-linux-musl/libc.so", sysnum.X86_64},
	} {
		if _, err := os.Stat(c.path); err != nil {
			t.Fatalf("%s: %v (run scripts/setup.sh)", c.path, err)
		}
		emb, err := Embedded(c.libc, c.arch)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Generate(c.path, c.arch)
		if err != nil {
			t.Fatal(err)
		}
		if s.BuildID != emb.BuildID {
			t.Logf("%s: build id %s differs from the embedded summary's %s: regenerate with tools/libcsum/scripts/generate.sh", c.path, s.BuildID, emb.BuildID)
			continue
		}
		a, _ := s.Marshal()
		b, _ := embedded.ReadFile(EmbeddedPath(c.libc, c.arch))
		if !bytes.Equal(a, b) {
			ha, hb := sha1.Sum(a), sha1.Sum(b)
			t.Errorf("%s: regenerated summary (%s) differs from %s (%s): run tools/libcsum/scripts/generate.sh",
				c.path, hex.EncodeToString(ha[:4]), EmbeddedPath(c.libc, c.arch), hex.EncodeToString(hb[:4]))
		}
		checked++
	}
	t.Logf("%d embedded summaries regenerated and compared", checked)
}
