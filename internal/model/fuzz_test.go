package model

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

func sampleTU() *TUGraph {
	b := automaton.NewBuilder()
	s1 := b.State()
	b.Edge(0, s1, 0, 0)
	b.Mark(s1, automaton.Return)
	a := b.Finish()
	return &TUGraph{
		Format: TUFormat, Version: TUVersion, Source: "/src/a.c", Language: "c",
		Files:     []string{"/src/a.c"},
		Labels:    []Label{{Kind: Call, Target: "c:@F@foo", Name: "foo"}},
		Sites:     []Loc{{File: 0, Line: 3, Col: 5}},
		Functions: []Function{{USR: "c:@F@main", Name: "main", Linkage: "main", Kind: "function", Loc: Loc{0, 2, 5}, Automaton: *a}},
	}
}

func TestRoundTrip(t *testing.T) {
	g := sampleTU()
	var buf bytes.Buffer
	if err := Encode(&buf, g); err != nil {
		t.Fatal(err)
	}
	g2, err := DecodeTU(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var d1, d2 bytes.Buffer
	g.Dump(&d1)
	g2.Dump(&d2)
	if d1.String() != d2.String() {
		t.Fatalf("dump differs:\n%s\n%s", d1.String(), d2.String())
	}
	if !strings.Contains(d1.String(), "call foo -> s1  @3:5") {
		t.Fatalf("unexpected dump:\n%s", d1.String())
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		`{"format":"kcfm-tu","version":2}`:             "unsupported TU graph version 2",
		`{"format":"other"}`:                           "not a TU graph",
		"{\"format\":\"kcfm-tu\",\n\"version\":\"x\"}": "line 2",
		`{"format":"kcfm-tu","version":1,"files":[],"labels":[],"sites":[],"functions":[{"usr":"u","name":"f","kind":"function","loc":{"f":0,"l":1,"c":1},"automaton":{"det":true,"states":[{"e":[{"l":0,"t":0}]}]}}]}`: "label 0 out of range",
		`{"format":"kcfm-tu","version":1,"bogus":1}`: "unknown field",
	}
	for in, want := range cases {
		_, err := DecodeTU([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeTU(%s) = %v, want error containing %q", in, err, want)
		}
	}
}

func FuzzDecodeTU(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, sampleTU())
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"kcfm-tu","version":1,"functions":[{"automaton":{"states":[]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeTU(data)
		if err != nil {
			return
		}
		// A graph that validates must be safe to dump.
		var out bytes.Buffer
		g.Dump(&out)
	})
}

func FuzzDecodeLib(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, &LibGraph{Format: LibFormat, Version: LibVersion, Name: "l", Kind: "static", Units: []TUGraph{*sampleTU()}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		if l, err := DecodeLib(data); err == nil {
			for i := range l.Units {
				var out bytes.Buffer
				l.Units[i].Dump(&out)
			}
		}
	})
}
