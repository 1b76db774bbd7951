package analysis

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// walker holds the state of the analysis of one TU.
type walker struct {
	tu   *clang.TU
	lang string
	opts Options
	buf  *clang.Buffer // holds the current tree (CollectView)
	aux  *clang.Buffer // for other queries (children, overrides)
	g    *model.TUGraph

	labelIdx map[model.Label]int32
	siteIdx  map[model.Loc]int32
	fileIdx  map[uintptr]int32
	decls    map[uintptr]*declInfo
	dtors    map[uintptr]*dtorInfo
	seenFn   map[string]bool
	seenAddr map[string]bool
	seenCb   map[string]bool
	seenSlot map[model.SlotStore]bool
	escaped  map[string]bool
	seenCls  map[string]bool
	seenWarn map[string]bool
	ctors    map[string]bool
	dtorsAt  map[string]bool
	fieldsOf map[uintptr][]clang.Cursor
	usrs     map[uintptr]string // USRs of variables, parameters and fields
	// spellings of declarations that are not in decls (variables,
	// parameters, fields called through), by Key
	spellings map[uintptr]keyedSpelling
	fnTypes   map[clang.TypeKey]string
	lambdas   map[int32]*declInfo // lambdas of the current tree, by node

	// current top-level declaration
	nodes    []clang.Node
	t        tree
	calls    []*callInfo
	isCallee []bool
	ciSlab   []callInfo // call infos of the current tree
	kidArena []int32    // their children lists
	f        fnWalker
}

// Analyze builds the TU graph of a parsed translation unit; lang is "c" or
// "c++".
func Analyze(tu *clang.TU, lang string, opts Options) (*model.TUGraph, error) {
	w := &walker{
		tu: tu, lang: lang, opts: opts, buf: clang.NewBuffer(), aux: clang.NewBuffer(),
		labelIdx: map[model.Label]int32{}, siteIdx: map[model.Loc]int32{}, fileIdx: map[uintptr]int32{},
		decls: map[uintptr]*declInfo{}, dtors: map[uintptr]*dtorInfo{},
		seenFn: map[string]bool{}, seenAddr: map[string]bool{}, seenCb: map[string]bool{},
		seenSlot: map[model.SlotStore]bool{}, escaped: map[string]bool{}, seenCls: map[string]bool{},
		seenWarn: map[string]bool{}, ctors: map[string]bool{}, dtorsAt: map[string]bool{},
		fieldsOf: map[uintptr][]clang.Cursor{}, lambdas: map[int32]*declInfo{}, usrs: map[uintptr]string{}, spellings: map[uintptr]keyedSpelling{}, fnTypes: map[clang.TypeKey]string{},
	}
	defer w.buf.Free()
	defer w.aux.Free()
	w.buf.SetC(lang == "c")
	w.g = &model.TUGraph{
		Format: model.TUFormat, Version: model.TUVersion,
		Source: tu.Spelling(), Language: lang, Target: tu.Triple(),
		Labels: []model.Label{}, Sites: []model.Loc{}, Functions: []model.Function{},
	}
	w.file(tu.MainFile())
	tops, err := tu.TopLevel(w.buf, opts.Headers)
	if err != nil {
		return nil, err
	}
	for _, c := range tops {
		if w.skipTop(c) {
			continue
		}
		ct, err := c.CollectTree(w.buf)
		if err != nil {
			return nil, err
		}
		w.nodes = ct.Nodes
		w.t.set(ct)
		if err := w.topDecl(); err != nil {
			return nil, err
		}
	}
	w.finishFacts()
	if err := w.g.Validate(); err != nil {
		return nil, fmt.Errorf("internal error: the graph of %s does not validate: %v", w.g.Source, err)
	}
	return w.g, nil
}

// skipTop: in C, declarations that cannot hold code, function pointers or
// calls are not walked (prototypes only matter for their attributes).
func (w *walker) skipTop(c clang.Cursor) bool {
	if w.lang != "c" {
		return false
	}
	switch c.Kind() {
	case clang.StructDecl, clang.UnionDecl, clang.EnumDecl, clang.TypedefDecl, clang.StaticAssert:
		return true
	case clang.FunctionDecl:
		if c.IsDefinition() {
			return false
		}
		w.attrFacts(c)
		return true
	}
	return false
}

// file returns the index of a file in the graph's file table.
func (w *walker) file(h uintptr) int32 {
	if i, ok := w.fileIdx[h]; ok {
		return i
	}
	i := int32(len(w.g.Files))
	w.g.Files = append(w.g.Files, w.tu.FileName(h))
	w.fileIdx[h] = i
	return i
}

func (w *walker) loc(c clang.Cursor) model.Loc {
	l := c.Location()
	if l.File == 0 {
		return model.Loc{}
	}
	return model.Loc{File: w.file(l.File), Line: int32(l.Line), Col: int32(l.Col)}
}

// site returns the index of a call site: where the call is written (for a
// call from a macro body, where the macro is used).
func (w *walker) site(c clang.Cursor) int32 {
	fl := c.FileLocation()
	var l model.Loc
	if fl.File != 0 {
		l = model.Loc{File: w.file(fl.File), Line: int32(fl.Line), Col: int32(fl.Col)}
	}
	if i, ok := w.siteIdx[l]; ok {
		return i
	}
	i := int32(len(w.g.Sites))
	w.g.Sites = append(w.g.Sites, l)
	w.siteIdx[l] = i
	return i
}

func (w *walker) label(l model.Label) int32 {
	if i, ok := w.labelIdx[l]; ok {
		return i
	}
	i := int32(len(w.g.Labels))
	w.g.Labels = append(w.g.Labels, l)
	w.labelIdx[l] = i
	return i
}

// warn records a warning about a construct handled conservatively.
func (w *walker) warn(c clang.Cursor, format string, args ...any) {
	l := c.Location()
	msg := fmt.Sprintf(format, args...)
	if l.File != 0 {
		msg = fmt.Sprintf("%s:%d:%d: %s", filepath.Base(w.tu.FileName(l.File)), l.Line, l.Col, msg)
	}
	if !w.seenWarn[msg] {
		w.seenWarn[msg] = true
		w.g.Warnings = append(w.g.Warnings, msg)
	}
}

func (w *walker) escape(slot string) {
	if slot != "" {
		w.escaped[slot] = true
	}
}

// topDecl processes the current top-level declaration's tree: classify
// calls and collect facts, then build the automaton of every function
// defined in it.
func (w *walker) topDecl() error {
	t := &w.t
	n := len(t.n)
	if cap(w.calls) < n {
		w.calls = make([]*callInfo, n)
		w.isCallee = make([]bool, n)
	} else {
		w.calls = w.calls[:n]
		w.isCallee = w.isCallee[:n]
		clear(w.calls)
		clear(w.isCallee)
	}
	for k := range w.lambdas {
		delete(w.lambdas, k)
	}
	// The slab must not move while pointers into it are held: size it
	// for every call of the tree up front.
	ncalls := 0
	for i := range t.n {
		if t.n[i].Cursor.Kind() == clang.CallExpr {
			ncalls++
		}
	}
	if cap(w.ciSlab) < ncalls {
		w.ciSlab = make([]callInfo, 0, ncalls)
	}
	w.ciSlab = w.ciSlab[:0]
	w.kidArena = w.kidArena[:0]
	w.facts()
	w.globalFacts()
	for i := int32(0); i < int32(n); i++ {
		switch k := t.kind(i); {
		case k == clang.LambdaExpr:
			w.function(i)
		case isFunctionLike(k):
			if body := w.bodyOf(i); body >= 0 {
				w.function(i)
			}
		}
	}
	return nil
}

// bodyOf returns the body statement of a function definition node, or -1.
func (w *walker) bodyOf(i int32) int32 {
	t := &w.t
	l := t.lastKid(i)
	if l < 0 {
		return -1
	}
	switch t.kind(l) {
	case clang.CompoundStmt, clang.CXXTryStmt:
		return l
	}
	return -1
}

// finishFacts sorts the TU-level fact lists into a deterministic order.
func (w *walker) finishFacts() {
	g := w.g
	for s := range w.escaped {
		g.EscapedSlots = append(g.EscapedSlots, s)
	}
	sort.Strings(g.EscapedSlots)
	for s := range w.ctors {
		g.Ctors = append(g.Ctors, s)
	}
	sort.Strings(g.Ctors)
	for s := range w.dtorsAt {
		g.Dtors = append(g.Dtors, s)
	}
	sort.Strings(g.Dtors)
}
