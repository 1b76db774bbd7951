package model

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// sameAsReflect checks that Encode writes exactly what encoding/json
// writes for v.
func sameAsReflect(t *testing.T, v any) {
	t.Helper()
	var got, want bytes.Buffer
	if err := Encode(&got, v); err != nil {
		t.Fatal(err)
	}
	if err := encodeReflect(&want, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		g, w := got.Bytes(), want.Bytes()
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		lo := max(0, i-60)
		t.Fatalf("Encode differs from encoding/json at byte %d:\n got  %q\n want %q", i, g[lo:min(len(g), i+60)], w[lo:min(len(w), i+60)])
	}
}

// fullTU sets every member of a TU graph, and leaves nothing empty.
func fullTU() *TUGraph {
	b := automaton.NewBuilder()
	s1, s2 := b.State(), b.State()
	b.Edge(0, s1, 0, 0)
	b.Edge(0, s2, 1, 1)
	b.Edge(s1, s2, 2, -1)
	b.Edge(0, s1, 0, 2)
	b.Mark(s2, automaton.Return)
	b.Mark(s1, automaton.Halt|automaton.Landing)
	a := b.Finish()
	return &TUGraph{
		Format: TUFormat, Version: TUVersion, Source: "/src/a \"b\".c", Language: "c++", Target: "x86_64-linux-gnu",
		Files: []string{"/src/a.c", "/usr/include/stdio.h"},
		Labels: []Label{
			{Kind: Call, Target: "c:@F@foo", Name: "foo", Type: "int (int)", NoReturn: true},
			{Kind: ICall, Name: "p", Type: "void (*)(void)", Slot: "field:c:@S@ops@FI@f"},
			{Kind: VCall, Target: "c:@S@C@F@m#", Name: "_ZN1C1mEv", Class: "c:@S@C"},
			{Kind: Syscall, Nr: 231},
		},
		Sites: []Loc{{0, 3, 5}, {1, 40, 2}, {0, 1 << 30, -1}},
		Functions: []Function{
			{USR: "c:@F@main", Name: "main", Linkage: "main", Kind: "function", Type: "int (void)", Static: true, NoReturn: true, Loc: Loc{0, 2, 5}, Automaton: *a},
			{USR: "c:@F@g", Name: "g", Kind: "lambda", Loc: Loc{0, 9, 1}, Automaton: automaton.Automaton{Deterministic: false, States: []automaton.State{{}}}},
			{USR: "c:@F@h", Name: "h", Kind: "template", Automaton: automaton.Automaton{}},
		},
		AddressTaken: []FuncRef{{USR: "c:@F@cb", Linkage: "cb", Type: "void (int)", Loc: Loc{0, 7, 3}}, {USR: "c:@F@l", Type: "void ()"}},
		Callbacks:    []Callback{{Registrar: "atexit", USR: "c:@F@cb", Linkage: "cb", Loc: Loc{0, 8, 1}}, {Registrar: "signal", USR: "u"}},
		SlotStores:   []SlotStore{{Slot: "var:c:@p", USR: "c:@F@cb", Loc: Loc{0, 9, 2}}, {Slot: "field:x"}},
		EscapedSlots: []string{"var:c:@q"},
		Classes: []Class{
			{USR: "c:@S@C", Name: "C", Bases: []string{"c:@S@B"}, Methods: []Method{
				{USR: "c:@S@C@F@m#", Name: "m", Linkage: "_ZN1C1mEv", Overrides: []string{"c:@S@B@F@m#"}, Pure: true},
				{USR: "c:@S@C@F@n#", Name: "n"},
			}},
			{USR: "c:@S@B", Name: "B"},
		},
		Ctors:          []string{"c:@F@init"},
		Dtors:          []string{"c:@F@fini"},
		Warnings:       []string{"a.c:3:4: warning\twith\ttabs\nand newlines"},
		Uninstrumented: []string{"c:@F@cb"},
	}
}

// fullTU sets every field of TUGraph: a field the hand-written encoder
// forgets cannot pass TestEncodeMatchesEncodingJSON unnoticed.
func TestFullTUSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(fullTU()).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Errorf("fullTU leaves TUGraph.%s unset", v.Type().Field(i).Name)
		}
	}
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	sameAsReflect(t, sampleTU())
	sameAsReflect(t, fullTU())
	sameAsReflect(t, &TUGraph{}) // nil slices: null
	sameAsReflect(t, &TUGraph{Files: []string{}, Labels: []Label{}, Sites: []Loc{}, Functions: []Function{}, Warnings: []string{}})
	sameAsReflect(t, (*TUGraph)(nil))
	sameAsReflect(t, *fullTU()) // a value, not a pointer: encoding/json
	sameAsReflect(t, &LibGraph{Format: LibFormat, Version: LibVersion, Name: "l", Kind: "static", Exports: []string{"f", "g"}, Units: []TUGraph{*sampleTU(), *fullTU()}})
	sameAsReflect(t, &LibGraph{})
	sameAsReflect(t, &LibGraph{Units: []TUGraph{}, Exports: []string{}})
	sameAsReflect(t, (*LibGraph)(nil))
}

// TestEncodeStrings covers encoding/json's string escapes: quotes,
// backslashes, every control character, DEL, HTML characters (not
// escaped), multi-byte UTF-8, U+2028/U+2029, and invalid UTF-8.
func TestEncodeStrings(t *testing.T) {
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	for _, s := range []string{
		"", "plain", `"quoted" \back\slash`, "<a href='x'>&amp;</a>", "\x7f", string(all),
		"π ≠ ∞ 𝄞", "line\u2028sep\u2029par", "\xff\xfe", "a\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	} {
		g := sampleTU()
		g.Source = s
		g.Files = []string{s, s + s}
		g.Labels[0].Name = s
		g.Warnings = []string{s}
		sameAsReflect(t, g)
	}
}

// randString draws from characters that need escaping as well as plain
// ones and (valid and invalid) multi-byte sequences.
func randString(r *rand.Rand) string {
	if r.Intn(4) == 0 {
		return ""
	}
	pieces := []string{"a", "Z", "0", ":", "@", "#", " ", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&",
		"é", "€", "𝄞", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x82", "c:@F@main", "int (*)(void)"}
	var b []byte
	for n := r.Intn(12); n > 0; n-- {
		b = append(b, pieces[r.Intn(len(pieces))]...)
	}
	return string(b)
}

func randStrings(r *rand.Rand) []string {
	switch r.Intn(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	s := make([]string, r.Intn(4)+1)
	for i := range s {
		s[i] = randString(r)
	}
	return s
}

func randLoc(r *rand.Rand) Loc {
	v := func() int32 {
		switch r.Intn(4) {
		case 0:
			return 0
		case 1:
			return -r.Int31()
		case 2:
			return []int32{math.MaxInt32, math.MinInt32, -1}[r.Intn(3)]
		}
		return r.Int31n(1 << uint(r.Intn(30)+1))
	}
	return Loc{v(), v(), v()}
}

func randAutomaton(r *rand.Rand) automaton.Automaton {
	a := automaton.Automaton{Deterministic: r.Intn(2) == 0}
	if r.Intn(5) == 0 {
		return a
	}
	a.States = make([]automaton.State, r.Intn(6))
	for i := range a.States {
		s := &a.States[i]
		s.Flags = automaton.Flags(r.Intn(8))
		if r.Intn(8) == 0 {
			s.Flags = automaton.Flags(r.Intn(256))
		}
		if r.Intn(3) > 0 {
			s.Edges = make([]automaton.Edge, r.Intn(4))
			for j := range s.Edges {
				e := &s.Edges[j]
				e.Label = automaton.Label(r.Int31() - r.Int31())
				e.To = r.Int31() - r.Int31()
				switch r.Intn(3) {
				case 0:
				case 1:
					e.Infos = []int32{}
				default:
					for k := r.Intn(4); k >= 0; k-- {
						e.Infos = append(e.Infos, r.Int31()-r.Int31())
					}
				}
			}
		}
	}
	return a
}

func randTU(r *rand.Rand) TUGraph {
	g := TUGraph{Format: randString(r), Version: r.Int() - r.Int(), Source: randString(r), Language: randString(r), Target: randString(r)}
	g.Files = randStrings(r)
	if r.Intn(4) > 0 {
		g.Labels = make([]Label, r.Intn(5))
		for i := range g.Labels {
			g.Labels[i] = Label{Kind: LabelKind(randString(r)), Target: randString(r), Name: randString(r), Type: randString(r),
				Class: randString(r), Slot: randString(r), Nr: []int{0, 1, -7, 4095, r.Int() - r.Int()}[r.Intn(5)], NoReturn: r.Intn(2) == 0}
		}
	}
	if r.Intn(4) > 0 {
		g.Sites = make([]Loc, r.Intn(5))
		for i := range g.Sites {
			g.Sites[i] = randLoc(r)
		}
	}
	if r.Intn(4) > 0 {
		g.Functions = make([]Function, r.Intn(4))
		for i := range g.Functions {
			g.Functions[i] = Function{USR: randString(r), Name: randString(r), Linkage: randString(r), Kind: randString(r), Type: randString(r),
				Static: r.Intn(2) == 0, NoReturn: r.Intn(2) == 0, Loc: randLoc(r), Automaton: randAutomaton(r)}
		}
	}
	if r.Intn(2) == 0 {
		g.AddressTaken = make([]FuncRef, r.Intn(3))
		for i := range g.AddressTaken {
			g.AddressTaken[i] = FuncRef{USR: randString(r), Linkage: randString(r), Type: randString(r), Loc: randLoc(r)}
		}
	}
	if r.Intn(2) == 0 {
		g.Callbacks = make([]Callback, r.Intn(3))
		for i := range g.Callbacks {
			g.Callbacks[i] = Callback{Registrar: randString(r), USR: randString(r), Linkage: randString(r), Loc: randLoc(r)}
		}
	}
	if r.Intn(2) == 0 {
		g.SlotStores = make([]SlotStore, r.Intn(3))
		for i := range g.SlotStores {
			g.SlotStores[i] = SlotStore{Slot: randString(r), USR: randString(r), Loc: randLoc(r)}
		}
	}
	g.EscapedSlots = randStrings(r)
	if r.Intn(2) == 0 {
		g.Classes = make([]Class, r.Intn(3))
		for i := range g.Classes {
			c := &g.Classes[i]
			c.USR, c.Name, c.Bases = randString(r), randString(r), randStrings(r)
			if r.Intn(3) > 0 {
				c.Methods = make([]Method, r.Intn(3))
				for j := range c.Methods {
					c.Methods[j] = Method{USR: randString(r), Name: randString(r), Linkage: randString(r), Overrides: randStrings(r), Pure: r.Intn(2) == 0}
				}
			}
		}
	}
	g.Ctors, g.Dtors, g.Warnings = randStrings(r), randStrings(r), randStrings(r)
	g.Uninstrumented = randStrings(r)
	return g
}

// TestEncodeRandomGraphs compares Encode with encoding/json on random TU
// and library graphs (members set or not, nil and empty slices, strings
// needing escapes, extreme integers).
func TestEncodeRandomGraphs(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		g := randTU(r)
		sameAsReflect(t, &g)
		if i%10 == 0 {
			l := &LibGraph{Format: randString(r), Version: r.Intn(3), Name: randString(r), Kind: randString(r), Exports: randStrings(r)}
			if r.Intn(4) > 0 {
				for k := r.Intn(3); k >= 0; k-- {
					l.Units = append(l.Units, randTU(r))
				}
			}
			sameAsReflect(t, l)
		}
	}
}

// TestEncodeLarge crosses the encoder's chunk size many times.
func TestEncodeLarge(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	g := randTU(r)
	for len(g.Functions) < 2000 {
		g.Functions = append(g.Functions, randTU(r).Functions...)
		g.Labels = append(g.Labels, Label{Kind: Call, Name: randString(r)})
		g.Sites = append(g.Sites, randLoc(r))
	}
	sameAsReflect(t, &g)
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

// TestEncodeWriteError: a failing writer's error is returned.
func TestEncodeWriteError(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	g := randTU(r)
	for len(g.Sites) < 100000 {
		g.Sites = append(g.Sites, randLoc(r))
	}
	for _, n := range []int{0, 1, 3} {
		if err := Encode(&failWriter{n: n}, &g); err == nil || err.Error() != "disk full" {
			t.Errorf("writer failing after %d writes: Encode = %v, want disk full", n, err)
		}
	}
}

// FuzzEncode builds a graph from fuzzed strings and integers and compares
// Encode with encoding/json.
func FuzzEncode(f *testing.F) {
	f.Add("c:@F@main", "int (int)", "\"\\\n\x00\xff\u2028", int64(7), int32(3))
	f.Fuzz(func(t *testing.T, a, b, c string, seed int64, x int32) {
		r := rand.New(rand.NewSource(seed))
		g := randTU(r)
		g.Source, g.Language = a, b
		g.Files = []string{a, b, c}
		g.Labels = append(g.Labels, Label{Kind: LabelKind(c), Target: a, Name: b, Type: c, Nr: int(x)})
		g.Sites = append(g.Sites, Loc{x, -x, x >> 3})
		g.Warnings = append(g.Warnings, c)
		sameAsReflect(t, &g)
	})
}

func BenchmarkEncode(b *testing.B) {
	r := rand.New(rand.NewSource(4))
	g := randTU(r)
	for len(g.Functions) < 3000 {
		g.Functions = append(g.Functions, randTU(r).Functions...)
	}
	var buf bytes.Buffer
	for _, impl := range []struct {
		name string
		enc  func(*bytes.Buffer) error
	}{{"handwritten", func(w *bytes.Buffer) error { return Encode(w, &g) }}, {"encoding_json", func(w *bytes.Buffer) error { return encodeReflect(w, &g) }}} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := impl.enc(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
