package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file is a grammar-level checker of the PSL subset `kcfm policy`
// writes (research/kcfm-reference.md §5.6, §6): a tokenizer, a
// recursive-descent parser and semantic checks against the mapping. It is
// not nk-psl-gen-c (which needs the SDK and the EDL files); it proves that
// what we emit is well-formed in the documented syntax and grants only
// endpoints and methods the mapping file lists.
//
// Grammar (declarations in any order):
//
//	file      = { decl }
//	decl      = "execute" ":" QNAME
//	          | "use" "EDL" QNAME
//	          | "use" QNAME                          (ends in "._")
//	          | "audit" "profile" IDENT "=" value
//	          | "audit" "default" "=" IDENT INT
//	          | EVENT { selector } block
//	EVENT     = "execute" | "request" | "response" | "error" | "security"
//	selector  = KEY "=" QNAME [ "," ]                KEY = src|dst|endpoint|method|interface
//	block     = "{" [ "audit" IDENT ] { item } "}"
//	item      = "match" { selector } block | IDENT "(" ")"     (grant (), deny ())
//	value     = "{" [ key ":" value { "," key ":" value } ] "}"
//	          | "[" [ value { "," value } ] "]" | STRING | INT | IDENT
//	key       = INT | IDENT
//
// Comments are // to end of line and /* */.

// maxPSL bounds the input of ParsePSL.
const maxPSL = 4 << 20

type pslTokKind int

const (
	tEOF  pslTokKind = iota
	tName            // identifier or dotted qualified name (nk.base._)
	tInt
	tString
	tPunct
)

type pslTok struct {
	kind      pslTokKind
	text      string
	line, col int
}

func (t pslTok) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// PSLPos is a position in a PSL file.
type PSLPos struct{ Line, Col int }

// PSLSelector is key=value in a binding or match.
type PSLSelector struct {
	Key, Value string
	Pos        PSLPos
}

// PSLCall is a model method call in a block: grant (), deny ().
type PSLCall struct {
	Name string
	Pos  PSLPos
}

// PSLBlock is the { } of a binding or match.
type PSLBlock struct {
	Audit   string
	Matches []PSLMatch
	Calls   []PSLCall
	Pos     PSLPos
}

// PSLMatch is a nested match section.
type PSLMatch struct {
	Selectors []PSLSelector
	Body      PSLBlock
	Pos       PSLPos
}

// PSLBinding binds rules to a security event.
type PSLBinding struct {
	Event     string
	Selectors []PSLSelector
	Body      PSLBlock
	Pos       PSLPos
}

// PSLUse is a `use` declaration.
type PSLUse struct {
	Path string
	EDL  bool
	Pos  PSLPos
}

// PSLProfile is an audit profile: runtime level → object → conditions.
type PSLProfile struct {
	Name   string
	Levels map[int]map[string]map[string][]string
	Pos    PSLPos
}

// PSLFile is a parsed PSL file.
type PSLFile struct {
	Name         string
	Execute      string
	Uses         []PSLUse
	Profiles     []PSLProfile
	AuditDefault string
	AuditLevel   int
	Bindings     []PSLBinding
}

type pslParser struct {
	name string
	src  string
	off  int
	line int
	col  int
	tok  pslTok
	err  error
}

func (p *pslParser) errf(pos PSLPos, format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s:%d:%d: %s", p.name, pos.Line, pos.Col, fmt.Sprintf(format, a...))
	}
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

func (p *pslParser) advance(n int) {
	for i := 0; i < n && p.off < len(p.src); i++ {
		if p.src[p.off] == '\n' {
			p.line++
			p.col = 1
		} else {
			p.col++
		}
		p.off++
	}
}

// next reads the next token into p.tok.
func (p *pslParser) next() {
	if p.err != nil {
		p.tok = pslTok{kind: tEOF, line: p.line, col: p.col}
		return
	}
	for p.off < len(p.src) {
		c := p.src[p.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.advance(1)
			continue
		case strings.HasPrefix(p.src[p.off:], "//"):
			for p.off < len(p.src) && p.src[p.off] != '\n' {
				p.advance(1)
			}
			continue
		case strings.HasPrefix(p.src[p.off:], "/*"):
			pos := PSLPos{p.line, p.col}
			end := strings.Index(p.src[p.off+2:], "*/")
			if end < 0 {
				p.errf(pos, "comment not closed (expected */)")
				p.tok = pslTok{kind: tEOF}
				return
			}
			p.advance(end + 4)
			continue
		}
		break
	}
	t := pslTok{line: p.line, col: p.col}
	if p.off >= len(p.src) {
		t.kind = tEOF
		p.tok = t
		return
	}
	c := p.src[p.off]
	start := p.off
	switch {
	case isNameStart(c):
		i := p.off
		for {
			for i < len(p.src) && isNameChar(p.src[i]) {
				i++
			}
			if i+1 < len(p.src) && p.src[i] == '.' && isNameStart(p.src[i+1]) {
				i++
				continue
			}
			break
		}
		t.kind, t.text = tName, p.src[start:i]
		p.advance(i - start)
	case c >= '0' && c <= '9':
		i := p.off
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
		}
		t.kind, t.text = tInt, p.src[start:i]
		p.advance(i - start)
	case c == '"':
		i := p.off + 1
		for i < len(p.src) && p.src[i] != '"' && p.src[i] != '\n' {
			if p.src[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(p.src) || p.src[i] != '"' {
			p.errf(PSLPos{t.line, t.col}, "string not closed")
			p.tok = pslTok{kind: tEOF}
			return
		}
		s, err := strconv.Unquote(p.src[start : i+1])
		if err != nil {
			p.errf(PSLPos{t.line, t.col}, "bad string %s", p.src[start:i+1])
			p.tok = pslTok{kind: tEOF}
			return
		}
		t.kind, t.text = tString, s
		p.advance(i + 1 - start)
	case strings.IndexByte("{}[]():,=", c) >= 0:
		t.kind, t.text = tPunct, string(c)
		p.advance(1)
	default:
		p.errf(PSLPos{t.line, t.col}, "unexpected character %q", c)
		p.tok = pslTok{kind: tEOF}
		return
	}
	p.tok = t
}

func (p *pslParser) pos() PSLPos { return PSLPos{p.tok.line, p.tok.col} }

func (p *pslParser) is(kind pslTokKind, text string) bool {
	return p.tok.kind == kind && (text == "" || p.tok.text == text)
}

func (p *pslParser) expect(kind pslTokKind, text, what string) string {
	if p.err != nil {
		return ""
	}
	if !p.is(kind, text) {
		p.errf(p.pos(), "expected %s, found %s", what, p.tok)
		return ""
	}
	s := p.tok.text
	p.next()
	return s
}

var pslEvents = map[string]bool{"execute": true, "request": true, "response": true, "error": true, "security": true}
var pslSelectorKeys = map[string]bool{"src": true, "dst": true, "endpoint": true, "method": true, "interface": true}

// ParsePSL parses the PSL subset; name is used in messages.
func ParsePSL(name string, src []byte) (*PSLFile, error) {
	if len(src) > maxPSL {
		return nil, fmt.Errorf("%s: %d bytes, larger than the limit of %d", name, len(src), maxPSL)
	}
	p := &pslParser{name: name, src: string(src), line: 1, col: 1}
	f := &PSLFile{Name: name, AuditLevel: -1}
	p.next()
	for p.err == nil && p.tok.kind != tEOF {
		pos := p.pos()
		if p.tok.kind != tName {
			p.errf(pos, "expected a declaration (use, audit, execute, request, response, error, security), found %s", p.tok)
			break
		}
		kw := p.tok.text
		switch {
		case kw == "use":
			p.next()
			if p.is(tName, "EDL") {
				p.next()
				path := p.expect(tName, "", "an EDL name after `use EDL`")
				f.Uses = append(f.Uses, PSLUse{Path: path, EDL: true, Pos: pos})
				continue
			}
			path := p.expect(tName, "", "a PSL file path (like nk.base._) after `use`")
			if p.err == nil && !strings.HasSuffix(path, "._") {
				p.errf(pos, "`use %s`: a PSL include path ends in \"._\" (like nk.base._)", path)
			}
			f.Uses = append(f.Uses, PSLUse{Path: path, Pos: pos})
		case kw == "audit":
			p.next()
			switch {
			case p.is(tName, "profile"):
				p.next()
				pname := p.expect(tName, "", "a profile name")
				p.expect(tPunct, "=", "\"=\" after the profile name")
				vpos := p.pos()
				v := p.value(0)
				if p.err == nil {
					prof, err := profileFrom(pname, v)
					if err != nil {
						p.errf(vpos, "audit profile %s: %v", pname, err)
					}
					prof.Pos = pos
					f.Profiles = append(f.Profiles, prof)
				}
			case p.is(tName, "default"):
				p.next()
				p.expect(tPunct, "=", "\"=\" after `audit default`")
				f.AuditDefault = p.expect(tName, "", "a profile name")
				lv := p.expect(tInt, "", "a runtime level (integer)")
				if p.err == nil {
					n, err := strconv.Atoi(lv)
					if err != nil || n > 1<<20 {
						p.errf(pos, "runtime level %s out of range", lv)
					}
					f.AuditLevel = n
				}
			default:
				p.errf(p.pos(), "expected `profile` or `default` after `audit`, found %s", p.tok)
			}
		case kw == "execute" && p.peekColon():
			p.next()
			p.expect(tPunct, ":", "\":\"")
			f.Execute = p.expect(tName, "", "the execute interface (kl.core.Execute)")
		case pslEvents[kw]:
			p.next()
			b := PSLBinding{Event: kw, Pos: pos}
			b.Selectors = p.selectors()
			b.Body = p.block()
			f.Bindings = append(f.Bindings, b)
		default:
			p.errf(pos, "unknown declaration %q (expected use, audit, execute, request, response, error or security)", kw)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return f, nil
}

// peekColon tells whether the character after the current token (skipping
// blanks) is ':' (`execute: kl.core.Execute` vs an execute binding).
func (p *pslParser) peekColon() bool {
	i := p.off
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
		i++
	}
	return i < len(p.src) && p.src[i] == ':'
}

func (p *pslParser) selectors() []PSLSelector {
	var out []PSLSelector
	seen := map[string]bool{}
	for p.err == nil && p.tok.kind == tName && pslSelectorKeys[p.tok.text] {
		pos := p.pos()
		k := p.tok.text
		p.next()
		p.expect(tPunct, "=", fmt.Sprintf("\"=\" after %s", k))
		v := p.expect(tName, "", fmt.Sprintf("a name after %s=", k))
		if seen[k] {
			p.errf(pos, "selector %s given twice", k)
		}
		seen[k] = true
		out = append(out, PSLSelector{Key: k, Value: v, Pos: pos})
		if p.is(tPunct, ",") {
			p.next()
		}
	}
	return out
}

func (p *pslParser) block() PSLBlock {
	b := PSLBlock{Pos: p.pos()}
	p.expect(tPunct, "{", "\"{\"")
	if p.is(tName, "audit") {
		p.next()
		b.Audit = p.expect(tName, "", "a profile name after `audit`")
	}
	for p.err == nil && !p.is(tPunct, "}") {
		pos := p.pos()
		switch {
		case p.is(tName, "match"):
			p.next()
			m := PSLMatch{Pos: pos}
			m.Selectors = p.selectors()
			if len(m.Selectors) == 0 && p.err == nil {
				p.errf(pos, "`match` needs at least one selector (src=, dst=, endpoint=, method=, interface=)")
			}
			m.Body = p.block()
			b.Matches = append(b.Matches, m)
		case p.tok.kind == tName:
			name := p.tok.text
			p.next()
			p.expect(tPunct, "(", fmt.Sprintf("\"(\" after %s", name))
			p.expect(tPunct, ")", "\")\" (the subset has only argument-less calls like grant ())")
			b.Calls = append(b.Calls, PSLCall{Name: name, Pos: pos})
		default:
			p.errf(pos, "expected `match`, a rule call like grant () or \"}\", found %s", p.tok)
		}
	}
	p.expect(tPunct, "}", "\"}\"")
	return b
}

// pslValue is a parsed audit-profile value.
type pslValue struct {
	kind  byte // 'm' map, 'l' list, 's' string, 'i' int, 'n' name
	text  string
	keys  []string
	vals  []*pslValue
	items []*pslValue
}

func (p *pslParser) value(depth int) *pslValue {
	if depth > 32 {
		p.errf(p.pos(), "value nested too deeply")
		return nil
	}
	switch {
	case p.is(tPunct, "{"):
		p.next()
		v := &pslValue{kind: 'm'}
		for p.err == nil && !p.is(tPunct, "}") {
			if len(v.keys) > 0 {
				p.expect(tPunct, ",", "\",\" or \"}\"")
			}
			if p.tok.kind != tName && p.tok.kind != tInt {
				p.errf(p.pos(), "expected a key (name or integer), found %s", p.tok)
				return nil
			}
			k := p.tok.text
			p.next()
			p.expect(tPunct, ":", "\":\" after a key")
			v.keys = append(v.keys, k)
			v.vals = append(v.vals, p.value(depth+1))
		}
		p.expect(tPunct, "}", "\"}\"")
		return v
	case p.is(tPunct, "["):
		p.next()
		v := &pslValue{kind: 'l'}
		for p.err == nil && !p.is(tPunct, "]") {
			if len(v.items) > 0 {
				p.expect(tPunct, ",", "\",\" or \"]\"")
			}
			v.items = append(v.items, p.value(depth+1))
		}
		p.expect(tPunct, "]", "\"]\"")
		return v
	case p.tok.kind == tString:
		v := &pslValue{kind: 's', text: p.tok.text}
		p.next()
		return v
	case p.tok.kind == tInt:
		v := &pslValue{kind: 'i', text: p.tok.text}
		p.next()
		return v
	case p.tok.kind == tName:
		v := &pslValue{kind: 'n', text: p.tok.text}
		p.next()
		return v
	}
	p.errf(p.pos(), "expected a value, found %s", p.tok)
	return nil
}

// profileFrom checks the shape { level : { object : { kss : [...], omit : [...] } } }.
func profileFrom(name string, v *pslValue) (PSLProfile, error) {
	prof := PSLProfile{Name: name, Levels: map[int]map[string]map[string][]string{}}
	if v == nil || v.kind != 'm' {
		return prof, fmt.Errorf("expected { <runtime-level> : { <object> : { kss : [...] } } }")
	}
	for i, k := range v.keys {
		lv, err := strconv.Atoi(k)
		if err != nil || lv > 1<<20 {
			return prof, fmt.Errorf("runtime level %q is not an integer", k)
		}
		if _, dup := prof.Levels[lv]; dup {
			return prof, fmt.Errorf("runtime level %d given twice", lv)
		}
		objs := v.vals[i]
		if objs == nil || objs.kind != 'm' {
			return prof, fmt.Errorf("level %d: expected { <object> : { ... } }", lv)
		}
		lm := map[string]map[string][]string{}
		for j, obj := range objs.keys {
			if !identRE.MatchString(obj) {
				return prof, fmt.Errorf("level %d: object %q is not a name", lv, obj)
			}
			conds := objs.vals[j]
			if conds == nil || conds.kind != 'm' {
				return prof, fmt.Errorf("level %d, object %s: expected { kss : [...] }", lv, obj)
			}
			cm := map[string][]string{}
			for c, ck := range conds.keys {
				lst := conds.vals[c]
				if lst == nil || lst.kind != 'l' {
					return prof, fmt.Errorf("level %d, object %s, %s: expected a list", lv, obj, ck)
				}
				var strs []string
				for _, it := range lst.items {
					if it == nil || it.kind != 's' {
						return prof, fmt.Errorf("level %d, object %s, %s: expected strings", lv, obj, ck)
					}
					if ck == "kss" && it.text != "granted" && it.text != "denied" {
						return prof, fmt.Errorf("level %d, object %s: kss condition %q (expected \"granted\" or \"denied\")", lv, obj, it.text)
					}
					strs = append(strs, it.text)
				}
				cm[ck] = strs
			}
			lm[obj] = cm
		}
		prof.Levels[lv] = lm
	}
	return prof, nil
}

// PSLGrant is one granted combination of an event's selectors.
type PSLGrant struct {
	Event                                 string
	Src, Dst, Endpoint, Method, Interface string
	Audit                                 string // innermost audit profile in effect
	Pos                                   PSLPos
}

func (g PSLGrant) String() string {
	var parts []string
	for _, kv := range [][2]string{{"src", g.Src}, {"dst", g.Dst}, {"endpoint", g.Endpoint}, {"method", g.Method}, {"interface", g.Interface}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return g.Event + " " + strings.Join(parts, " ")
}

// Grants lists every grant () with the selectors in effect around it.
func (f *PSLFile) Grants() []PSLGrant {
	var out []PSLGrant
	var walk func(ev string, sel map[string]string, audit string, b PSLBlock)
	walk = func(ev string, sel map[string]string, audit string, b PSLBlock) {
		if b.Audit != "" {
			audit = b.Audit
		}
		for _, c := range b.Calls {
			if c.Name == "grant" {
				out = append(out, PSLGrant{Event: ev, Src: sel["src"], Dst: sel["dst"], Endpoint: sel["endpoint"],
					Method: sel["method"], Interface: sel["interface"], Audit: audit, Pos: c.Pos})
			}
		}
		for _, m := range b.Matches {
			inner := map[string]string{}
			for k, v := range sel {
				inner[k] = v
			}
			for _, s := range m.Selectors {
				inner[s.Key] = s.Value
			}
			walk(ev, inner, audit, m.Body)
		}
	}
	for _, b := range f.Bindings {
		sel := map[string]string{}
		for _, s := range b.Selectors {
			sel[s.Key] = s.Value
		}
		walk(b.Event, sel, "", b.Body)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// CheckPSL checks a parsed fragment against the mapping: it includes the
// Base model, every audit profile it uses is declared, nested selectors do
// not contradict their parents, and every grant names the entity on one
// side and, on the other, a class of the mapping — for the kernel exactly
// an endpoint and method the mapping lists.
func CheckPSL(f *PSLFile, m *Mapping, entity string) error {
	at := func(pos PSLPos, format string, a ...any) error {
		return fmt.Errorf("%s:%d:%d: %s", f.Name, pos.Line, pos.Col, fmt.Sprintf(format, a...))
	}
	base := false
	for _, u := range f.Uses {
		if !u.EDL && u.Path == "nk.base._" {
			base = true
		}
	}
	if !base {
		return fmt.Errorf("%s: `use nk.base._` is missing (grant () is a method of the Base model)", f.Name)
	}
	profiles := map[string]bool{}
	for _, pr := range f.Profiles {
		if profiles[pr.Name] {
			return at(pr.Pos, "audit profile %s declared twice", pr.Name)
		}
		profiles[pr.Name] = true
		for lv, objs := range pr.Levels {
			for obj := range objs {
				if obj != "base" {
					return at(pr.Pos, "audit profile %s level %d audits object %q; the fragment declares only the Base model's object base", pr.Name, lv, obj)
				}
			}
		}
	}
	if f.AuditDefault != "" && !profiles[f.AuditDefault] {
		return fmt.Errorf("%s: audit default names the undeclared profile %s", f.Name, f.AuditDefault)
	}
	var checkBlock func(ev string, sel map[string]string, b PSLBlock) error
	checkBlock = func(ev string, sel map[string]string, b PSLBlock) error {
		if b.Audit != "" && !profiles[b.Audit] {
			return at(b.Pos, "audit profile %s is not declared", b.Audit)
		}
		for _, c := range b.Calls {
			if c.Name != "grant" && c.Name != "deny" {
				return at(c.Pos, "rule %s () is not in the subset (grant, deny)", c.Name)
			}
		}
		for _, mt := range b.Matches {
			for _, s := range mt.Selectors {
				if v, ok := sel[s.Key]; ok && v != s.Value {
					return at(s.Pos, "match %s=%s inside %s=%s can never match", s.Key, s.Value, s.Key, v)
				}
			}
			inner := map[string]string{}
			for k, v := range sel {
				inner[k] = v
			}
			for _, s := range mt.Selectors {
				inner[s.Key] = s.Value
			}
			if err := checkBlock(ev, inner, mt.Body); err != nil {
				return err
			}
		}
		return nil
	}
	for _, bd := range f.Bindings {
		sel := map[string]string{}
		for _, s := range bd.Selectors {
			sel[s.Key] = s.Value
		}
		if err := checkBlock(bd.Event, sel, bd.Body); err != nil {
			return err
		}
	}
	classes := map[string]bool{}
	for _, c := range m.Classes() {
		classes[c] = true
	}
	edl := map[string]bool{}
	for _, u := range f.Uses {
		if u.EDL {
			edl[u.Path] = true
		}
	}
	if !edl[entity] {
		return fmt.Errorf("%s: `use EDL %s` is missing", f.Name, entity)
	}
	for _, g := range f.Grants() {
		peer := ""
		switch g.Event {
		case "execute":
			if g.Dst != entity {
				return at(g.Pos, "%s: the fragment may only allow the start of %s", g, entity)
			}
			continue
		case "request":
			if g.Src != entity {
				return at(g.Pos, "%s: a request grant must have src=%s", g, entity)
			}
			peer = g.Dst
		case "response", "error":
			if g.Dst != entity {
				return at(g.Pos, "%s: a %s grant must have dst=%s", g, g.Event, entity)
			}
			peer = g.Src
		default:
			return at(g.Pos, "%s: the fragment grants no %s events", g, g.Event)
		}
		if !classes[peer] {
			return at(g.Pos, "%s: %q is not a class of the mapping (%s)", g, peer, strings.Join(m.Classes(), ", "))
		}
		if !edl[peer] {
			return at(g.Pos, "%s: `use EDL %s` is missing", g, peer)
		}
		if g.Event != "request" {
			continue
		}
		if peer == m.Core.Class {
			if g.Endpoint == "" || g.Method == "" {
				return at(g.Pos, "%s: a request to the kernel must name endpoint= and method=", g)
			}
			if !m.HasCoreMethod(g.Endpoint, g.Method) {
				return at(g.Pos, "%s: endpoint %s method %s is not listed in the mapping file", g, g.Endpoint, g.Method)
			}
			if g.Interface != "" && g.Interface != m.Interface(g.Endpoint) {
				return at(g.Pos, "%s: endpoint %s has interface %s", g, g.Endpoint, m.Interface(g.Endpoint))
			}
		} else if g.Endpoint != "" || g.Method != "" {
			return at(g.Pos, "%s: the mapping names no methods of %s", g, peer)
		}
	}
	return nil
}
