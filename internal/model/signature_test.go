package model

import (
	"bytes"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// bigSignature builds a signature with about n states spread over
// functions of 100 states each, with call and syscall edges.
func bigSignature(n int) *Signature {
	r := rand.New(rand.NewSource(7))
	s := &Signature{Arch: "x86_64", Program: "big", Libc: "glibc", Syscalls: []int{0, 1, 2, 257}, StartupSyscalls: []int{9, 10}, Files: []string{"a.c"}}
	s.Sites = []SigSite{{0, 1, 1}}
	nf := n / 100
	for k := 0; k < nf; k++ {
		f := SigFunction{Name: "f", Symbol: "f", File: "a.c", Line: int32(k)}
		for j := 0; j < 100; j++ {
			st := SigState{}
			if j == 99 {
				st.Flags = 1
			}
			for e := 0; e < 2; e++ {
				lbl := SyscallLabel(r.Intn(300))
				if e == 0 {
					lbl = CallLabel(int32(r.Intn(nf)))
				}
				st.Edges = append(st.Edges, SigEdge{Label: lbl, To: int32(r.Intn(100)), Site: 0})
			}
			sort.Slice(st.Edges, func(a, b int) bool { return st.Edges[a].Label < st.Edges[b].Label })
			f.States = append(f.States, st)
		}
		s.Functions = append(s.Functions, f)
	}
	return s
}

func TestSignatureRoundTrip(t *testing.T) {
	s := bigSignature(1000)
	var buf bytes.Buffer
	if err := EncodeSignature(&buf, s); err != nil {
		t.Fatal(err)
	}
	s2, err := DecodeSignature(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, s2) {
		t.Fatal("round trip changed the signature")
	}
}

func TestSignatureRejects(t *testing.T) {
	var buf bytes.Buffer
	EncodeSignature(&buf, bigSignature(200))
	good := buf.Bytes()
	if _, err := DecodeSignature(good[:len(good)-3]); err == nil {
		t.Fatal("truncated signature accepted")
	}
	bad := append([]byte{}, good...)
	bad[len(SigMagic)] = 9 // version
	if _, err := DecodeSignature(bad); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("wrong version: %v", err)
	}
	if _, err := DecodeSignature([]byte("hello")); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("bad magic: %v", err)
	}
	s := bigSignature(200)
	s.Functions[0].States[0].Edges[0].To = 500
	buf.Reset()
	EncodeSignature(&buf, s)
	if _, err := DecodeSignature(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("bad target: %v", err)
	}
}

// BenchmarkLoadSignature100k measures decoding a 100k-state signature
// (target: well under 100 ms).
func BenchmarkLoadSignature100k(b *testing.B) {
	var buf bytes.Buffer
	EncodeSignature(&buf, bigSignature(100000))
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeSignature(data); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecodeSignature(f *testing.F) {
	var buf bytes.Buffer
	EncodeSignature(&buf, bigSignature(300))
	f.Add(buf.Bytes())
	f.Add([]byte(SigMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSignature(data)
		if err != nil {
			return
		}
		// Re-encoding a valid signature must round-trip.
		var out bytes.Buffer
		if err := EncodeSignature(&out, s); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSignature(out.Bytes()); err != nil {
			t.Fatalf("re-encoded signature rejected: %v", err)
		}
	})
}
