package model

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// Encode writes a graph (TU or library) as indented-free JSON with a
// trailing newline. The encoding is deterministic for equal values.
//
// TU and library graphs go through a hand-written encoder that produces
// exactly the bytes encoding/json (with HTML escaping off) produces for
// the same value (encodeReflect; encode_test.go compares the two on test
// and random graphs); it streams the output and costs a fraction of the
// reflection-based encoder. Any other value goes through encoding/json.
func Encode(w io.Writer, v any) error {
	switch g := v.(type) {
	case *TUGraph:
		if g != nil {
			e := jsonEncoder{w: w, buf: make([]byte, 0, encodeChunk+4096)}
			e.tu(g)
			e.byte('\n')
			return e.flush()
		}
	case *LibGraph:
		if g != nil {
			e := jsonEncoder{w: w, buf: make([]byte, 0, encodeChunk+4096)}
			e.lib(g)
			e.byte('\n')
			return e.flush()
		}
	}
	return encodeReflect(w, v)
}

// encodeReflect is the encoding/json encoding of v, the reference of the
// hand-written jsonEncoder.
func encodeReflect(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// encodeChunk is how much output the jsonEncoder collects before writing it.
const encodeChunk = 32 << 10

type jsonEncoder struct {
	w   io.Writer
	buf []byte
	err error
}

func (e *jsonEncoder) flush() error {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
	return e.err
}

// maybeFlush writes the collected output once it exceeds encodeChunk.
func (e *jsonEncoder) maybeFlush() {
	if len(e.buf) >= encodeChunk {
		e.flush()
	}
}

func (e *jsonEncoder) byte(b byte)     { e.buf = append(e.buf, b) }
func (e *jsonEncoder) raw(s string)    { e.buf = append(e.buf, s...) }
func (e *jsonEncoder) int(v int64)     { e.buf = strconv.AppendInt(e.buf, v, 10) }
func (e *jsonEncoder) bool(v bool)     { e.buf = strconv.AppendBool(e.buf, v) }
func (e *jsonEncoder) str(s string)    { e.buf = appendString(e.buf, s) }
func (e *jsonEncoder) strs(s []string) { e.buf = appendStrings(e.buf, s) }

// appendStrings encodes a []string (nil is null).
func appendStrings(dst []byte, s []string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, x := range s {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, x)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with HTML escaping off:
// '"', '\\' and control characters escaped (\b \f \n \r \t by name, the
// others as \u00XX), invalid UTF-8 bytes replaced by \ufffd, U+2028 and
// U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func (e *jsonEncoder) loc(l *Loc) {
	e.raw(`{"f":`)
	e.int(int64(l.File))
	e.raw(`,"l":`)
	e.int(int64(l.Line))
	e.raw(`,"c":`)
	e.int(int64(l.Col))
	e.byte('}')
}

// encodeArray writes xs as a JSON array (a nil slice is null), each
// element with elem, writing out the collected output between elements
// once it is large.
func encodeArray[T any](e *jsonEncoder, xs []T, elem func(*T)) {
	if xs == nil {
		e.raw("null")
		return
	}
	e.byte('[')
	for i := range xs {
		if i > 0 {
			e.byte(',')
		}
		elem(&xs[i])
		e.maybeFlush()
	}
	e.byte(']')
}

// optStr writes key (`,"name":`) and v unless v is empty (omitempty).
func (e *jsonEncoder) optStr(key, v string) {
	if v != "" {
		e.raw(key)
		e.str(v)
	}
}

// optStrs writes key and v unless v is empty (omitempty).
func (e *jsonEncoder) optStrs(key string, v []string) {
	if len(v) > 0 {
		e.raw(key)
		e.strs(v)
	}
}

// optTrue writes member (`,"name":true`) when b is set (omitempty).
func (e *jsonEncoder) optTrue(member string, b bool) {
	if b {
		e.raw(member)
	}
}

func (e *jsonEncoder) lib(g *LibGraph) {
	e.raw(`{"format":`)
	e.str(g.Format)
	e.raw(`,"version":`)
	e.int(int64(g.Version))
	e.raw(`,"name":`)
	e.str(g.Name)
	e.raw(`,"kind":`)
	e.str(g.Kind)
	e.optStrs(`,"exports":`, g.Exports)
	e.raw(`,"units":`)
	encodeArray(e, g.Units, e.tu)
	e.byte('}')
}

func (e *jsonEncoder) tu(g *TUGraph) {
	e.raw(`{"format":`)
	e.str(g.Format)
	e.raw(`,"version":`)
	e.int(int64(g.Version))
	e.raw(`,"source":`)
	e.str(g.Source)
	e.raw(`,"language":`)
	e.str(g.Language)
	e.optStr(`,"target":`, g.Target)
	e.raw(`,"files":`)
	e.strs(g.Files)
	e.raw(`,"labels":`)
	encodeArray(e, g.Labels, e.label)
	e.raw(`,"sites":`)
	encodeArray(e, g.Sites, e.loc)
	e.raw(`,"functions":`)
	encodeArray(e, g.Functions, e.function)
	if len(g.AddressTaken) > 0 {
		e.raw(`,"address_taken":`)
		encodeArray(e, g.AddressTaken, func(r *FuncRef) {
			e.raw(`{"usr":`)
			e.str(r.USR)
			e.optStr(`,"linkage":`, r.Linkage)
			e.raw(`,"type":`)
			e.str(r.Type)
			e.raw(`,"loc":`)
			e.loc(&r.Loc)
			e.byte('}')
		})
	}
	if len(g.Callbacks) > 0 {
		e.raw(`,"callbacks":`)
		encodeArray(e, g.Callbacks, func(c *Callback) {
			e.raw(`{"registrar":`)
			e.str(c.Registrar)
			e.raw(`,"usr":`)
			e.str(c.USR)
			e.optStr(`,"linkage":`, c.Linkage)
			e.raw(`,"loc":`)
			e.loc(&c.Loc)
			e.byte('}')
		})
	}
	if len(g.SlotStores) > 0 {
		e.raw(`,"slot_stores":`)
		encodeArray(e, g.SlotStores, func(s *SlotStore) {
			e.raw(`{"slot":`)
			e.str(s.Slot)
			e.optStr(`,"usr":`, s.USR)
			e.raw(`,"loc":`)
			e.loc(&s.Loc)
			e.byte('}')
		})
	}
	e.optStrs(`,"escaped_slots":`, g.EscapedSlots)
	if len(g.Classes) > 0 {
		e.raw(`,"classes":`)
		encodeArray(e, g.Classes, e.class)
	}
	e.optStrs(`,"ctors":`, g.Ctors)
	e.optStrs(`,"dtors":`, g.Dtors)
	e.optStrs(`,"warnings":`, g.Warnings)
	e.optStrs(`,"uninstrumented":`, g.Uninstrumented)
	e.byte('}')
}

func (e *jsonEncoder) label(l *Label) {
	e.raw(`{"kind":`)
	e.str(string(l.Kind))
	e.optStr(`,"target":`, l.Target)
	e.optStr(`,"name":`, l.Name)
	e.optStr(`,"type":`, l.Type)
	e.optStr(`,"class":`, l.Class)
	e.optStr(`,"slot":`, l.Slot)
	if l.Nr != 0 {
		e.raw(`,"nr":`)
		e.int(int64(l.Nr))
	}
	e.optTrue(`,"noreturn":true`, l.NoReturn)
	e.byte('}')
}

func (e *jsonEncoder) function(f *Function) {
	e.raw(`{"usr":`)
	e.str(f.USR)
	e.raw(`,"name":`)
	e.str(f.Name)
	e.optStr(`,"linkage":`, f.Linkage)
	e.raw(`,"kind":`)
	e.str(f.Kind)
	e.optStr(`,"type":`, f.Type)
	e.optTrue(`,"static":true`, f.Static)
	e.optTrue(`,"noreturn":true`, f.NoReturn)
	e.raw(`,"loc":`)
	e.loc(&f.Loc)
	e.raw(`,"automaton":`)
	e.automaton(&f.Automaton)
	e.byte('}')
}

func (e *jsonEncoder) automaton(a *automaton.Automaton) {
	e.raw(`{"det":`)
	e.bool(a.Deterministic)
	e.raw(`,"states":`)
	encodeArray(e, a.States, e.state)
	e.byte('}')
}

func (e *jsonEncoder) state(s *automaton.State) {
	e.byte('{')
	if s.Flags != 0 {
		e.raw(`"f":`)
		e.int(int64(s.Flags))
		if len(s.Edges) > 0 {
			e.byte(',')
		}
	}
	if len(s.Edges) > 0 {
		e.raw(`"e":[`)
		for j := range s.Edges {
			if j > 0 {
				e.byte(',')
			}
			ed := &s.Edges[j]
			e.raw(`{"l":`)
			e.int(int64(ed.Label))
			e.raw(`,"t":`)
			e.int(int64(ed.To))
			if len(ed.Infos) > 0 {
				e.raw(`,"i":[`)
				for k, x := range ed.Infos {
					if k > 0 {
						e.byte(',')
					}
					e.int(int64(x))
				}
				e.byte(']')
			}
			e.byte('}')
		}
		e.byte(']')
	}
	e.byte('}')
}

func (e *jsonEncoder) class(c *Class) {
	e.raw(`{"usr":`)
	e.str(c.USR)
	e.raw(`,"name":`)
	e.str(c.Name)
	e.optStrs(`,"bases":`, c.Bases)
	if len(c.Methods) > 0 {
		e.raw(`,"methods":`)
		encodeArray(e, c.Methods, func(m *Method) {
			e.raw(`{"usr":`)
			e.str(m.USR)
			e.raw(`,"name":`)
			e.str(m.Name)
			e.optStr(`,"linkage":`, m.Linkage)
			e.optStrs(`,"overrides":`, m.Overrides)
			e.optTrue(`,"pure":true`, m.Pure)
			e.byte('}')
		})
	}
	e.byte('}')
}
