package trace

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Arch: "x86_64", Program: "p"})
	if err != nil {
		t.Fatal(err)
	}
	evs := []Event{{Ev: Enter, Pid: 1, Tid: 1, Sym: "main"}, {Ev: Syscall, Pid: 1, Tid: 1, Nr: 59, Name: "execve"}, {Ev: Exit, Pid: 1, Tid: 1, Sym: "main"}}
	for _, e := range evs {
		w.Write(e)
	}
	w.Flush()
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		e, err := r.Next()
		if err != nil || e != evs[i] {
			t.Fatalf("event %d: %+v %v", i, e, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestErrorsHaveLines(t *testing.T) {
	in := `{"format":"kcfm-trace","version":1,"arch":"x86_64"}
{"ev":"enter","pid":1,"tid":1,"sym":"main"}
{"ev":"syscall","pid":1,"tid":1,"nr":99999}
`
	r, err := NewReader(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("want a line-3 error, got %v", err)
	}
	if _, err := NewReader(strings.NewReader(`{"format":"kcfm-trace","version":7}`)); err == nil || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("version: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("{\"format\":\"kcfm-trace\",\"version\":1}\n{\"ev\":\"enter\",\"pid\":1,\"tid\":1,\"sym\":\"x\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			e, err := r.Next()
			if err != nil {
				return
			}
			if e.Validate() != nil {
				t.Fatal("invalid event returned")
			}
		}
	})
}
