package analysis

import (
	"bytes"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// fnWalker builds the NFA of one function from its statements.
type fnWalker struct {
	w   *walker
	t   *tree
	a   nfa
	cxx bool

	root      int32
	ret, halt int32
	labels    map[uintptr]int32 // label statement -> state
	addrLbl   []int32           // states of labels whose address is taken
	loops     []jumpCtx
	switches  []*switchCtx
	tries     []tryCtx
	scopes    []scope
	temps     []cleanup // destructors of temporaries, run at the end of the full expression
	thisClass func() string
	inits     []int32 // constructor initialisers
	kidBuf    []int32 // arena of child lists
	fnTry     int32   // the function-try-block of a constructor/destructor, or -1
}

type jumpCtx struct {
	brk, cont int32 // cont < 0 for a switch
	depth     int   // scope depth outside the statement
}

type switchCtx struct {
	dispatch   int32
	hasDefault bool
}

type tryCtx struct {
	dispatch int32
	depth    int
}

type scope struct {
	cleanups []cleanup
}

type cleanup struct {
	label, site int32
	repeat      bool // arrays: any number of destructor calls
}

// build returns the automaton of function node root with body body.
func (f *fnWalker) build(root, body int32) *automaton.Automaton {
	a := &f.a
	a.reset()
	f.root = root
	f.loops = f.loops[:0]
	f.switches = f.switches[:0]
	f.tries = f.tries[:0]
	f.scopes = f.scopes[:0]
	f.temps = f.temps[:0]
	if f.labels == nil {
		f.labels = map[uintptr]int32{}
	}
	for k := range f.labels {
		delete(f.labels, k)
	}
	f.addrLbl = f.addrLbl[:0]
	f.kidBuf = f.kidBuf[:0]
	f.thisClass = f.w.thisClassAt(body)

	start := a.state()
	f.ret = a.state()
	a.mark(f.ret, automaton.Return)
	f.halt = a.state()
	a.mark(f.halt, automaton.Halt)
	f.prescan(root, body)

	s := start
	f.scopes = append(f.scopes, scope{})
	f.inits = f.inits[:0]
	f.fnTry = -1
	if k := f.t.kind(root); k == clang.Constructor || k == clang.Destructor {
		// member and base initialisers run before the body
		for k := f.t.first[root]; k >= 0 && k != body; k = f.t.next[k] {
			if f.t.kind(k).IsExpr() {
				f.inits = append(f.inits, k)
			}
		}
		if f.t.kind(body) == clang.CXXTryStmt {
			// function-try-block: the handlers also cover the
			// initialisers, and end by rethrowing
			f.fnTry = body
		}
	}
	if f.fnTry < 0 {
		for _, k := range f.inits {
			s = f.full(k, s)
		}
	}
	s = f.stmt(body, s)
	s = f.popScope(s)
	a.eps(s, f.ret)
	return a.finish(start)
}

// prescan creates a state for every label of the function and finds the
// labels whose address is taken (targets of computed gotos). Nested
// functions (lambdas, local classes) are skipped.
func (f *fnWalker) prescan(root, body int32) {
	t := f.t
	var addr []uintptr
	for i := body; i < t.end[body]; i++ {
		switch t.kind(i) {
		case clang.LambdaExpr, clang.StructDecl, clang.ClassDecl, clang.UnionDecl:
			i = t.end[i] - 1
		case clang.LabelStmt:
			f.labels[t.cur(i).Key()] = f.a.state()
		case clang.AddrLabelExpr:
			if k := t.first[i]; k >= 0 {
				addr = append(addr, t.cur(k).Referenced().Key())
			} else {
				addr = append(addr, t.cur(i).Referenced().Key())
			}
		}
	}
	seen := map[int32]bool{}
	for _, k := range addr {
		if s, ok := f.labels[k]; ok && !seen[s] {
			seen[s] = true
			f.addrLbl = append(f.addrLbl, s)
		}
	}
}

// kids returns the children of i in a slice the caller may keep (carved
// from a per-function arena).
func (f *fnWalker) kids(i int32) []int32 {
	start := len(f.kidBuf)
	f.kidBuf = f.t.kids(i, f.kidBuf)
	return f.kidBuf[start:len(f.kidBuf):len(f.kidBuf)]
}

// dead returns a fresh state nothing leads to (code after a jump).
func (f *fnWalker) dead() int32 { return f.a.state() }

func (f *fnWalker) pushScope() { f.scopes = append(f.scopes, scope{}) }

// popScope leaves the innermost scope: its destructors may run.
func (f *fnWalker) popScope(s int32) int32 {
	top := f.scopes[len(f.scopes)-1]
	f.scopes = f.scopes[:len(f.scopes)-1]
	return f.runCleanups(s, top.cleanups)
}

// runCleanups adds optional destructor calls, last declared first.
func (f *fnWalker) runCleanups(s int32, cs []cleanup) int32 {
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		n := f.a.state()
		if c.repeat {
			f.a.edge(s, s, c.label, c.site)
			f.a.eps(s, n)
		} else {
			f.a.edge(s, n, c.label, c.site)
			f.a.eps(s, n)
		}
		s = n
	}
	return s
}

// jump leaves the scopes deeper than depth (running their destructors)
// and goes to target.
func (f *fnWalker) jump(s, target int32, depth int) {
	for k := len(f.scopes) - 1; k >= depth && k >= 0; k-- {
		s = f.runCleanups(s, f.scopes[k].cleanups)
	}
	f.a.eps(s, target)
}

// throwFrom: an exception at state s goes to the handlers of the innermost
// enclosing try, or ends the function's path.
func (f *fnWalker) throwFrom(s int32) {
	if len(f.tries) > 0 {
		tc := f.tries[len(f.tries)-1]
		f.jump(s, tc.dispatch, tc.depth)
		return
	}
	f.jump(s, f.halt, 0)
}

// full walks a statement, or an expression as a full expression (the
// destructors of its temporaries run at its end).
func (f *fnWalker) full(i, in int32) int32 {
	mark := len(f.temps)
	s := f.stmt(i, in)
	if len(f.temps) > mark {
		s = f.runCleanups(s, f.temps[mark:])
		f.temps = f.temps[:mark]
	}
	return s
}

// condFull walks a condition as a full expression: the true and false
// states, after the destructors of its temporaries.
func (f *fnWalker) condFull(i, in int32) (int32, int32) {
	if !f.t.kind(i).IsExpr() {
		x := f.full(i, in)
		return x, x
	}
	mark := len(f.temps)
	x, y := f.cond(i, in)
	if len(f.temps) > mark {
		cs := f.temps[mark:]
		if x == y {
			x = f.runCleanups(x, cs)
			y = x
		} else {
			x = f.runCleanups(x, cs)
			y = f.runCleanups(y, cs)
		}
		f.temps = f.temps[:mark]
	}
	return x, y
}

// stmt walks a statement (or an expression statement).
func (f *fnWalker) stmt(i, in int32) int32 {
	t := f.t
	a := &f.a
	switch t.kind(i) {
	case clang.CompoundStmt:
		f.pushScope()
		s := in
		for k := t.first[i]; k >= 0; k = t.next[k] {
			s = f.full(k, s)
		}
		return f.popScope(s)
	case clang.DeclStmt:
		s := in
		for k := t.first[i]; k >= 0; k = t.next[k] {
			if t.kind(k) == clang.VarDecl {
				s = f.varDecl(k, s)
			}
		}
		return s
	case clang.VarDecl:
		return f.varDecl(i, in)
	case clang.NullStmt:
		return in
	case clang.IfStmt:
		return f.ifStmt(i, in)
	case clang.WhileStmt:
		return f.whileStmt(i, in)
	case clang.DoStmt:
		return f.doStmt(i, in)
	case clang.ForStmt:
		return f.forStmt(i, in)
	case clang.CXXForRangeStmt:
		return f.rangeFor(i, in)
	case clang.SwitchStmt:
		return f.switchStmt(i, in)
	case clang.CaseStmt, clang.DefaultStmt:
		s := a.state()
		a.eps(in, s) // fall-through from the previous case
		if n := len(f.switches); n > 0 {
			sw := f.switches[n-1]
			a.eps(sw.dispatch, s)
			if t.kind(i) == clang.DefaultStmt {
				sw.hasDefault = true
			}
		}
		if l := t.lastKid(i); l >= 0 && (t.kind(i) == clang.DefaultStmt || t.numKids(i) > 1) {
			return f.full(l, s)
		}
		return s
	case clang.LabelStmt:
		l, ok := f.labels[t.cur(i).Key()]
		if !ok {
			l = a.state()
		}
		a.eps(in, l)
		if k := t.lastKid(i); k >= 0 {
			return f.full(k, l)
		}
		return l
	case clang.GotoStmt:
		if k := t.first[i]; k >= 0 {
			if l, ok := f.labels[t.cur(k).Referenced().Key()]; ok {
				f.jump(in, l, 1)
				return f.dead()
			}
		}
		f.w.warn(t.cur(i), "goto to an unknown label: edges to every label")
		for _, l := range f.labels {
			f.jump(in, l, 1)
		}
		return f.dead()
	case clang.IndirectGotoStmt:
		s := in
		if k := t.first[i]; k >= 0 {
			s = f.expr(k, in)
		}
		targets := f.addrLbl
		if len(targets) == 0 {
			f.w.warn(t.cur(i), "computed goto with no address-taken label in the function: edges to every label")
			for _, l := range f.labels {
				targets = append(targets, l)
			}
		}
		for _, l := range targets {
			f.jump(s, l, 1)
		}
		return f.dead()
	case clang.BreakStmt:
		if n := len(f.loops); n > 0 {
			lc := f.loops[n-1]
			f.jump(in, lc.brk, lc.depth)
		}
		return f.dead()
	case clang.ContinueStmt:
		for n := len(f.loops) - 1; n >= 0; n-- {
			if lc := f.loops[n]; lc.cont >= 0 {
				f.jump(in, lc.cont, lc.depth)
				break
			}
		}
		return f.dead()
	case clang.ReturnStmt:
		s := in
		if k := t.first[i]; k >= 0 {
			s = f.full(k, in)
		}
		f.jump(s, f.ret, 0)
		return f.dead()
	case clang.CXXTryStmt:
		return f.tryStmt(i, in)
	case clang.GCCAsmStmt:
		// asm goto: may jump to any label it names
		for k := t.first[i]; k >= 0; k = t.next[k] {
			if t.kind(k) == clang.LabelRef {
				if l, ok := f.labels[t.cur(k).Referenced().Key()]; ok {
					f.jump(in, l, 1)
				}
			}
		}
		return in
	}
	k := t.kind(i)
	if k.IsExpr() {
		return f.expr(i, in)
	}
	if k.IsDecl() || k.IsAttr() || !t.hot[i] && !f.hasJumps(i) {
		return in
	}
	// Other statements (attributed statements ...): children in order.
	s := in
	for c := t.first[i]; c >= 0; c = t.next[c] {
		s = f.full(c, s)
	}
	return s
}

// hasJumps reports whether a subtree contains control statements that the
// walk must see even without calls.
func (f *fnWalker) hasJumps(i int32) bool {
	t := f.t
	for j := i; j < t.end[i]; j++ {
		switch t.kind(j) {
		case clang.ReturnStmt, clang.BreakStmt, clang.ContinueStmt, clang.GotoStmt, clang.IndirectGotoStmt,
			clang.LabelStmt, clang.CaseStmt, clang.DefaultStmt, clang.CXXTryStmt, clang.VarDecl:
			return true
		}
	}
	return false
}

// varDecl: the initialiser runs (once for static locals); other
// expressions in the declaration (typeof, VLA bounds) may or may not run.
// Automatic variables of class type register their destructor.
func (f *fnWalker) varDecl(i, in int32) int32 {
	t := f.t
	a := &f.a
	s := in
	if t.hot[i] {
		init := f.w.varInit(i)
		for k := t.first[i]; k >= 0; k = t.next[k] {
			if !t.hot[k] || !t.kind(k).IsExpr() {
				continue
			}
			if k == init {
				x := f.full(k, s)
				if f.cxx && x != s && f.arrayCtor(i, k) {
					// one constructor call per element
					a.eps(x, s)
				}
				s = x
			} else {
				x := f.full(k, s)
				a.eps(s, x)
				s = x
			}
		}
	}
	if !f.cxx && !t.hot[i] {
		return s
	}
	c := t.cur(i)
	sc := c.StorageClass()
	if sc == clang.StorageStatic || sc == clang.StorageExtern {
		if s != in {
			a.eps(in, s) // a static local is initialised once
		}
		if d := f.w.dtorOf(c.Type()); d != nil {
			f.w.dtorsAt[d.usr] = true
		}
		return s
	}
	if f.cxx {
		ty := c.Type().Canonical()
		repeat := false
		if ty.Kind() == clang.TypeConstantArray {
			ty = arrayElem(ty)
			repeat = true
		}
		if d := f.w.dtorOf(ty); d != nil {
			sc := &f.scopes[len(f.scopes)-1]
			sc.cleanups = append(sc.cleanups, cleanup{label: d.label, site: f.w.site(c), repeat: repeat})
		}
	}
	return s
}

func arrayElem(t clang.Type) clang.Type { return t.Elem().Canonical() }

// arrayCtor: the initialiser of an array variable is a single constructor
// expression run once per element.
func (f *fnWalker) arrayCtor(v, init int32) bool {
	t := f.t
	s := init
	for t.kind(s) == clang.UnexposedExpr && t.first[s] >= 0 && t.next[t.first[s]] < 0 {
		s = t.first[s]
	}
	if t.kind(s) != clang.CallExpr {
		return false
	}
	ci := f.w.calls[s]
	if ci == nil || ci.decl == nil || ci.decl.kind != clang.Constructor {
		return false
	}
	switch t.cur(v).Type().Canonical().Kind() {
	case clang.TypeConstantArray, clang.TypeIncompleteArray, clang.TypeVariableArray:
		return true
	}
	return false
}

// ifStmt: [init] [condition variable] condition, then, [else].
func (f *fnWalker) ifStmt(i, in int32) int32 {
	a := &f.a
	kids := f.kids(i)
	f.pushScope()
	var alts [][]int32 // interpretations: header..., then, else(-1)
	if !f.cxx {
		if len(kids) == 2 {
			alts = [][]int32{{kids[0], kids[1], -1}}
		} else if len(kids) == 3 {
			alts = [][]int32{{kids[0], kids[1], kids[2]}}
		}
	} else {
		alts = f.ifShapes(i, kids)
	}
	if len(alts) == 0 {
		// unexpected shape: everything in order, optional
		s := in
		for _, k := range kids {
			x := f.full(k, s)
			a.eps(s, x)
			s = x
		}
		return f.popScope(s)
	}
	j := a.state()
	for _, alt := range alts {
		n := len(alt)
		s := in
		for _, h := range alt[:n-3] {
			s = f.full(h, s)
		}
		ct, cf := f.condFull(alt[n-3], s)
		x := f.full(alt[n-2], ct)
		a.eps(x, j)
		if alt[n-1] >= 0 {
			y := f.full(alt[n-1], cf)
			a.eps(y, j)
		} else {
			a.eps(cf, j)
		}
	}
	return f.popScope(j)
}

// ifShapes returns the possible readings of a C++ if statement's
// children: header parts, then, else (-1 when absent).
func (f *fnWalker) ifShapes(i int32, kids []int32) [][]int32 {
	t := f.t
	p := 0
	var header []int32
	if p < len(kids) && t.kind(kids[p]) == clang.DeclStmt {
		header = append(header, kids[p])
		p++
	}
	if p < len(kids) && t.kind(kids[p]) == clang.VarDecl {
		header = append(header, kids[p])
		p++
	}
	rest := kids[p:]
	mk := func(h []int32, then, els int32) []int32 {
		out := append(append([]int32{}, h...), then, els)
		return out
	}
	switch {
	case len(header) > 0 && len(rest) == 2:
		return [][]int32{mk(append(header, rest[0]), rest[1], -1)}
	case len(header) > 0 && len(rest) == 3:
		return [][]int32{mk(append(header, rest[0]), rest[1], rest[2])}
	case len(rest) == 2:
		return [][]int32{mk([]int32{rest[0]}, rest[1], -1)}
	case len(rest) == 4:
		return [][]int32{mk([]int32{rest[0], rest[1]}, rest[2], rest[3])}
	case len(rest) == 3:
		// (cond, then, else) or (init-expr; cond, then)?
		if !t.kind(rest[1]).IsExpr() {
			return [][]int32{mk([]int32{rest[0]}, rest[1], rest[2])}
		}
		switch f.gapHas(rest[0], rest[1], ";") {
		case 1:
			return [][]int32{mk([]int32{rest[0], rest[1]}, rest[2], -1)}
		case 0:
			return [][]int32{mk([]int32{rest[0]}, rest[1], rest[2])}
		}
		return [][]int32{mk([]int32{rest[0]}, rest[1], rest[2]), mk([]int32{rest[0], rest[1]}, rest[2], -1)}
	}
	return nil
}

// gapHas looks at the tokens between the end of node a and the start of
// node b: 1 if tok is among them, 0 if not, -1 if the positions are not
// usable (both inside one macro expansion).
func (f *fnWalker) gapHas(a, b int32, tok string) int {
	t := f.t
	_, ae := t.cur(a).Extent()
	bs, _ := t.cur(b).Extent()
	if ae.File == 0 || ae.File != bs.File || ae.Offs >= bs.Offs {
		return -1
	}
	for _, s := range f.w.tu.TokensBetween(t.cur(a), true, t.cur(b), false) {
		if s == tok {
			return 1
		}
	}
	return 0
}

// constCond evaluates a loop condition without calls: 1 always true, 0
// always false, -1 unknown.
func (f *fnWalker) constCond(i int32) int {
	t := f.t
	if i < 0 {
		return 1
	}
	if t.hot[i] || !t.kind(i).IsExpr() {
		return -1
	}
	v, ok := t.cur(i).EvaluateInt()
	if !ok {
		return -1
	}
	if v != 0 {
		return 1
	}
	return 0
}

func (f *fnWalker) whileStmt(i, in int32) int32 {
	a := &f.a
	kids := f.kids(i)
	if len(kids) < 2 {
		return in
	}
	body := kids[len(kids)-1]
	f.pushScope()
	head := a.state()
	a.eps(in, head)
	exit := a.state()
	s := head
	hdr := kids[:len(kids)-1]
	for _, h := range hdr[:len(hdr)-1] {
		s = f.full(h, s)
	}
	ct, cf := f.condFull(hdr[len(hdr)-1], s)
	if len(kids) == 2 && f.constCond(kids[0]) == 1 {
		// while (1): no exit but break
	} else {
		a.eps(cf, exit)
	}
	f.loops = append(f.loops, jumpCtx{brk: exit, cont: head, depth: len(f.scopes)})
	b := f.full(body, ct)
	f.loops = f.loops[:len(f.loops)-1]
	a.eps(b, head)
	return f.popScope(exit)
}

func (f *fnWalker) doStmt(i, in int32) int32 {
	a := &f.a
	kids := f.kids(i)
	if len(kids) != 2 {
		return in
	}
	head := a.state()
	a.eps(in, head)
	cond := a.state()
	exit := a.state()
	f.loops = append(f.loops, jumpCtx{brk: exit, cont: cond, depth: len(f.scopes)})
	b := f.full(kids[0], head)
	f.loops = f.loops[:len(f.loops)-1]
	a.eps(b, cond)
	ct, cf := f.condFull(kids[1], cond)
	switch f.constCond(kids[1]) {
	case 0: // do { } while (0)
		a.eps(cf, exit)
	case 1:
		a.eps(ct, head)
	default:
		a.eps(cf, exit)
		a.eps(ct, head)
	}
	return exit
}

// forStmt: for (init; cond; inc) body. Absent parts have no cursor, so
// the parts are told apart by the semicolons of the header; inside a macro
// expansion (no usable positions) every consistent reading is built.
func (f *fnWalker) forStmt(i, in int32) int32 {
	a := &f.a
	kids := f.kids(i)
	if len(kids) == 0 {
		return in
	}
	body := kids[len(kids)-1]
	mid := kids[:len(kids)-1]
	var shapes [][3][]int32 // init, cond, inc
	switch {
	case len(mid) == 0:
		shapes = [][3][]int32{{nil, nil, nil}}
	case len(mid) >= 3:
		shapes = [][3][]int32{{mid[:len(mid)-2], mid[len(mid)-2 : len(mid)-1], mid[len(mid)-1:]}}
	default:
		if sh, ok := f.forShape(i, mid); ok {
			shapes = [][3][]int32{sh}
		} else {
			// every order-preserving assignment of the parts
			n := len(mid)
			for mask := 0; mask < 27; mask++ {
				var sh [3][]int32
				prev := -1
				ok := true
				m := mask
				for k := 0; k < n; k++ {
					p := m % 3
					m /= 3
					if p < prev || (p == prev && p != 0) {
						ok = false
						break
					}
					prev = p
					sh[p] = append(sh[p], mid[k])
				}
				if ok && m == 0 {
					shapes = append(shapes, sh)
				}
			}
		}
	}
	f.pushScope()
	exit := a.state()
	for _, sh := range shapes {
		s := in
		for _, k := range sh[0] {
			s = f.full(k, s)
		}
		head := a.state()
		a.eps(s, head)
		ct, cf := head, head
		for j, k := range sh[1] {
			if j == len(sh[1])-1 {
				ct, cf = f.condFull(k, ct)
			} else {
				ct = f.full(k, ct)
			}
		}
		cc := -1
		if len(sh[1]) == 0 {
			cc = 1
		} else if len(sh[1]) == 1 {
			cc = f.constCond(sh[1][0])
		}
		if cc != 1 {
			a.eps(cf, exit)
		}
		inc := a.state()
		f.loops = append(f.loops, jumpCtx{brk: exit, cont: inc, depth: len(f.scopes)})
		b := f.full(body, ct)
		f.loops = f.loops[:len(f.loops)-1]
		a.eps(b, inc)
		x := inc
		for _, k := range sh[2] {
			x = f.full(k, x)
		}
		a.eps(x, head)
	}
	return f.popScope(exit)
}

// forShape assigns the header parts by counting the semicolons before
// each of them.
func (f *fnWalker) forShape(i int32, mid []int32) ([3][]int32, bool) {
	t := f.t
	var sh [3][]int32
	fs, _ := t.cur(i).Extent()
	prev := 0
	for _, k := range mid {
		ks, _ := t.cur(k).Extent()
		if fs.File == 0 || ks.File != fs.File || ks.Offs <= fs.Offs {
			return sh, false
		}
		toks := f.w.tu.TokensBetween(t.cur(i), false, t.cur(k), false)
		if len(toks) < 2 || toks[0] != "for" || toks[1] != "(" {
			return sh, false
		}
		depth, semis := 0, 0
		for _, s := range toks[1:] {
			switch s {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			case ";":
				if depth == 1 {
					semis++
				}
			}
		}
		if semis > 2 || semis < prev {
			return sh, false
		}
		if semis == prev && semis != 0 && len(sh[semis]) > 0 && t.kind(k) != clang.VarDecl && t.kind(sh[semis][len(sh[semis])-1]) != clang.VarDecl {
			return sh, false
		}
		prev = semis
		sh[semis] = append(sh[semis], k)
	}
	return sh, true
}

// rangeFor: for (decl : range) body. The range is evaluated once; each
// iteration initialises the loop variable (operator* shows up there).
// begin/end/operator!=/operator++ are invisible in the C API.
func (f *fnWalker) rangeFor(i, in int32) int32 {
	t := f.t
	a := &f.a
	kids := f.kids(i)
	if len(kids) < 3 {
		return in
	}
	body := kids[len(kids)-1]
	v := -1
	for j, k := range kids[:len(kids)-1] {
		if t.kind(k) == clang.VarDecl {
			v = j
		}
	}
	f.pushScope()
	s := in
	rng := int32(-1)
	for j, k := range kids[:len(kids)-1] {
		if j != v {
			s = f.full(k, s)
			rng = k
		}
	}
	// begin()/end() of the range and !=/++ of its iterator are not in the
	// C API's tree; when the range is a class with member begin/end, add
	// them as optional calls.
	var begins, iters []int32
	site := f.w.site(t.cur(i))
	if f.cxx && rng >= 0 {
		begins, iters = f.w.rangeMembers(t.cur(rng).Type())
	}
	s = f.optionalCalls(s, begins, site)
	head := a.state()
	a.eps(s, head)
	h := f.optionalCalls(head, iters, site) // operator!= before each test
	exit := a.state()
	a.eps(h, exit)
	f.pushScope()
	x := h
	if v >= 0 {
		x = f.varDecl(kids[v], h)
	}
	next := a.state()
	f.loops = append(f.loops, jumpCtx{brk: exit, cont: next, depth: len(f.scopes) - 1})
	b := f.full(body, x)
	f.loops = f.loops[:len(f.loops)-1]
	b = f.popScope(b)
	a.eps(b, next)
	a.eps(f.optionalCalls(next, iters, site), head) // operator++
	return f.popScope(exit)
}

// optionalCalls adds any number of the given calls (each optional).
func (f *fnWalker) optionalCalls(s int32, labels []int32, site int32) int32 {
	if len(labels) == 0 {
		return s
	}
	for _, l := range labels {
		f.a.edge(s, s, l, site)
	}
	return s
}

// switchStmt: cases are entered from the dispatch state after the
// condition; without a default the switch may be skipped.
func (f *fnWalker) switchStmt(i, in int32) int32 {
	a := &f.a
	kids := f.kids(i)
	if len(kids) < 2 {
		return in
	}
	body := kids[len(kids)-1]
	f.pushScope()
	s := in
	for _, k := range kids[:len(kids)-1] {
		s = f.full(k, s)
	}
	exit := a.state()
	sw := &switchCtx{dispatch: s}
	f.switches = append(f.switches, sw)
	f.loops = append(f.loops, jumpCtx{brk: exit, cont: -1, depth: len(f.scopes)})
	b := f.full(body, f.dead())
	f.loops = f.loops[:len(f.loops)-1]
	f.switches = f.switches[:len(f.switches)-1]
	a.eps(b, exit)
	if !sw.hasDefault {
		a.eps(s, exit)
	}
	return f.popScope(exit)
}

// tryStmt: an exception raised in the body (by a throw, or by any call)
// goes to every handler (we do not match types); a handler's start is a
// landing state. Without catch(...) the exception may also propagate.
func (f *fnWalker) tryStmt(i, in int32) int32 {
	t := f.t
	a := &f.a
	kids := f.kids(i)
	if len(kids) == 0 {
		return in
	}
	d := a.state()
	f.tries = append(f.tries, tryCtx{dispatch: d, depth: len(f.scopes)})
	s := in
	if i == f.fnTry {
		for _, k := range f.inits {
			s = f.full(k, s)
		}
	}
	b := f.full(kids[0], s)
	f.tries = f.tries[:len(f.tries)-1]
	exit := a.state()
	a.eps(b, exit)
	catchAll := false
	for _, h := range kids[1:] {
		if t.kind(h) != clang.CXXCatchStmt {
			continue
		}
		hs := a.state()
		a.mark(hs, automaton.Landing)
		a.eps(d, hs)
		hk := t.kids(h, nil)
		hasVar := false
		for _, k := range hk {
			if t.kind(k) == clang.VarDecl {
				hasVar = true
			}
		}
		if !hasVar {
			catchAll = true
		}
		if len(hk) > 0 {
			f.pushScope()
			x := f.full(hk[len(hk)-1], hs)
			x = f.popScope(x)
			if i == f.fnTry {
				f.throwFrom(x) // implicit rethrow at the end of the handler
			} else {
				a.eps(x, exit)
			}
		}
	}
	if !catchAll {
		f.throwFrom(d)
	}
	return exit
}

// expr walks an expression.
func (f *fnWalker) expr(i, in int32) int32 {
	t := f.t
	if !t.hot[i] {
		return in
	}
	a := &f.a
	switch t.kind(i) {
	case clang.CallExpr:
		return f.call(i, in)
	case clang.CXXThrowExpr:
		s := f.operands(i, in)
		f.throwFrom(s)
		return f.dead()
	case clang.BinaryOperator:
		return f.binary(i, in)
	case clang.ConditionalOperator:
		kids := f.kids(i)
		if len(kids) != 3 {
			return f.operands(i, in)
		}
		ct, cf := f.cond(kids[0], in)
		x := f.expr(kids[1], ct)
		y := f.expr(kids[2], cf)
		return f.join(x, y)
	case clang.StmtExpr:
		s := in
		for k := t.first[i]; k >= 0; k = t.next[k] {
			s = f.stmt(k, s)
		}
		return s
	case clang.UnaryExpr, clang.CXXTypeidExpr, clang.GenericSelectionExpr:
		// sizeof/alignof (evaluated only for VLAs), typeid, _Generic:
		// operands may or may not be evaluated.
		s := in
		for k := t.first[i]; k >= 0; k = t.next[k] {
			x := f.expr(k, s)
			j := a.state()
			a.eps(s, j)
			a.eps(x, j)
			s = j
		}
		return s
	case clang.CStyleCastExpr, clang.CompoundLiteralExpr, clang.CXXStaticCastExpr, clang.CXXDynamicCastExpr,
		clang.CXXReinterpretCastExpr, clang.CXXConstCastExpr, clang.CXXFunctionalCastExpr:
		// the operand is the last child; earlier ones come from the type
		// (typeof, VLA bounds)
		l := t.lastKid(i)
		s := in
		for k := t.first[i]; k >= 0 && k != l; k = t.next[k] {
			x := f.expr(k, s)
			a.eps(s, x)
			s = x
		}
		return f.expr(l, s)
	case clang.LambdaExpr:
		return in // its body is a function of its own
	case clang.UnexposedExpr:
		// GNU x ?: y (BinaryConditionalOperator): libclang shows the
		// common operand three times (as itself and through two opaque
		// values), then the false branch.
		kids := f.kids(i)
		if len(kids) == 4 && t.cur(kids[0]).Key() == t.cur(kids[1]).Key() && t.cur(kids[0]).Key() == t.cur(kids[2]).Key() {
			ct, cf := f.cond(kids[0], in)
			y := f.expr(kids[3], cf)
			return f.join(ct, y)
		}
	case clang.CXXDeleteExpr:
		s := f.operands(i, in)
		if k := t.first[i]; k >= 0 {
			pt := t.cur(k).Type().Canonical()
			if pt.Kind() == clang.TypePointer {
				if d := f.w.dtorOf(pt.Pointee()); d != nil {
					n := a.state()
					lbl := d.label
					if d.virtual {
						lbl = d.vlabel
					}
					a.edge(s, n, lbl, f.w.site(t.cur(i)))
					a.eps(s, n)
					s = n
				}
			}
		}
		return s
	}
	return f.operands(i, in)
}

// operands evaluates the children of i as unsequenced operands: every
// interleaving of their events is accepted.
func (f *fnWalker) operands(i, in int32) int32 {
	t := f.t
	var hot []int32
	for k := t.first[i]; k >= 0; k = t.next[k] {
		if t.hot[k] {
			dup := false
			key := t.cur(k).Key()
			for _, h := range hot {
				if t.cur(h).Key() == key {
					dup = true // an opaque value shows its source again
				}
			}
			if !dup {
				hot = append(hot, k)
			}
		}
	}
	return f.shuffled(hot, in, -1)
}

// shuffled evaluates nodes in any interleaving; opt (one of nodes, or -1)
// may also be skipped entirely.
func (f *fnWalker) shuffled(nodes []int32, in int32, opt int32) int32 {
	a := &f.a
	switch len(nodes) {
	case 0:
		return in
	case 1:
		x := f.expr(nodes[0], in)
		if nodes[0] == opt {
			a.eps(in, x)
		}
		return x
	}
	var rs []region
	for _, k := range nodes {
		m := a.begin()
		e := a.state()
		x := f.expr(k, e)
		r := a.end(m, e, x)
		if k == opt {
			r = a.optional(r)
		}
		if !a.trivial(r) {
			rs = append(rs, r)
		}
	}
	switch len(rs) {
	case 0:
		return in
	case 1:
		a.eps(in, rs[0].entry)
		return rs[0].exit
	}
	if len(rs) > 8 {
		r := a.hub(rs)
		a.eps(in, r.entry)
		return r.exit
	}
	r := rs[0]
	for _, x := range rs[1:] {
		r = a.shuffle(r, x)
	}
	a.eps(in, r.entry)
	return r.exit
}

// call: operands (callee expression and arguments, unsequenced), then the
// call event.
func (f *fnWalker) call(i, in int32) int32 {
	a := &f.a
	ci := f.w.calls[i]
	s := f.operands(i, in)
	if ci == nil {
		return s
	}
	if len(ci.labels) == 0 {
		if ci.halt {
			a.eps(s, f.halt)
			return f.dead()
		}
		return s
	}
	if ci.halt {
		for _, l := range ci.labels {
			a.edge(s, f.halt, l, ci.site)
		}
		return f.dead()
	}
	n := a.state()
	for _, l := range ci.labels {
		a.edge(s, n, l, ci.site)
	}
	if ci.optional {
		a.eps(s, n)
	}
	if ci.landing {
		a.mark(n, automaton.Landing)
	}
	if f.cxx {
		if len(f.tries) > 0 {
			tc := f.tries[len(f.tries)-1]
			f.jump(n, tc.dispatch, tc.depth)
		}
		f.temporary(i, ci)
	}
	return n
}

// temporary registers the destructor of a temporary object a call creates
// (a constructor call that does not initialise a variable, or a function
// returning a class by value): it runs at the end of the full expression.
func (f *fnWalker) temporary(i int32, ci *callInfo) {
	t := f.t
	d := ci.decl
	if d == nil {
		return
	}
	var ty clang.Type
	if d.kind == clang.Constructor {
		p := t.parent(i)
		for p >= 0 && t.kind(p) == clang.UnexposedExpr {
			p = t.parent(p)
		}
		if p >= 0 && (t.kind(p) == clang.VarDecl || t.kind(p) == clang.CXXNewExpr || t.kind(p) == clang.Constructor) {
			return
		}
		ty = t.cur(i).Type()
	} else {
		ty = d.cur.ResultType()
		if k := ty.Canonical().Kind(); k != clang.TypeRecord {
			return
		}
	}
	if dt := f.w.dtorOf(ty); dt != nil {
		f.temps = append(f.temps, cleanup{label: dt.label, site: ci.site})
	}
}

// binary: && and || make the right operand conditional; the comma
// sequences; other operators leave the operands unsequenced; an operator
// of unknown kind (from a macro body) gets an unsequenced, optional right
// operand, which covers every reading.
func (f *fnWalker) binary(i, in int32) int32 {
	t := f.t
	l := t.first[i]
	if l < 0 || t.next[l] < 0 {
		return f.operands(i, in)
	}
	r := t.next[l]
	if !t.hot[r] {
		return f.expr(l, in)
	}
	switch f.w.binop(t.cur(i), t.cur(l), t.cur(r)) {
	case opAnd, opOr:
		x, y := f.cond(i, in)
		return f.join(x, y)
	case opComma:
		return f.expr(r, f.expr(l, in))
	case opOther:
		return f.operands(i, in)
	}
	return f.shuffled([]int32{l, r}, in, r)
}

func (f *fnWalker) join(x, y int32) int32 {
	if x == y {
		return x
	}
	j := f.a.state()
	f.a.eps(x, j)
	f.a.eps(y, j)
	return j
}

// cond walks an expression used as a condition and returns the states
// where it is true and where it is false (they may be the same state).
// Short-circuit operators and ! route the two outcomes precisely, so that
// in `if (a() && b()) x();` x can only follow b.
func (f *fnWalker) cond(i, in int32) (int32, int32) {
	t := f.t
	if !t.hot[i] {
		return in, in
	}
	switch t.kind(i) {
	case clang.ParenExpr, clang.UnexposedExpr:
		if k := t.first[i]; k >= 0 && t.next[k] < 0 {
			return f.cond(k, in)
		}
	case clang.UnaryOperator:
		if k := t.first[i]; k >= 0 && t.next[k] < 0 && f.w.isNot(t.cur(i)) {
			x, y := f.cond(k, in)
			return y, x
		}
	case clang.BinaryOperator:
		l := t.first[i]
		if l < 0 || t.next[l] < 0 {
			break
		}
		r := t.next[l]
		if !t.hot[r] {
			break
		}
		switch f.w.binop(t.cur(i), t.cur(l), t.cur(r)) {
		case opAnd:
			lt, lf := f.cond(l, in)
			rt, rf := f.cond(r, lt)
			return rt, f.join(lf, rf)
		case opOr:
			lt, lf := f.cond(l, in)
			rt, rf := f.cond(r, lf)
			return f.join(lt, rt), rf
		case opComma:
			return f.cond(r, f.expr(l, in))
		}
	}
	x := f.expr(i, in)
	return x, x
}

// isNot reports whether a unary operator is logical negation (from the
// source text at the operator; unknown inside macro bodies).
func (w *walker) isNot(c clang.Cursor) bool {
	l := c.FileLocation()
	if l.File == 0 {
		return false
	}
	b := w.tu.Source(l.File)
	o := int(l.Offs)
	return o < len(b) && b[o] == '!' && (o+1 == len(b) || b[o+1] != '=')
}

type opKind uint8

const (
	opUnknown opKind = iota
	opAnd
	opOr
	opComma
	opOther
)

// binop finds a binary operator's kind (libclang-15 has no API for it)
// from the tokens between its operands. The positions must be plain
// source: the operator's extent spans exactly its operands' extents and
// they do not overlap. Otherwise (an operator from a macro body, where all
// extents collapse to the macro's use) the kind is unknown and the caller
// over-approximates.
func (w *walker) binop(c, lhs, rhs clang.Cursor) opKind {
	if k := w.binopTokens(c, lhs, rhs); k != opUnknown {
		return k
	}
	// Not plain source. && and || yield int (C) or bool (C++): any other
	// result type rules them out, and an unsequenced reading covers both
	// the comma and the other operators.
	k := c.Type().Canonical().Kind()
	if k != clang.TypeInt && k != clang.TypeBool {
		return opOther
	}
	return opUnknown
}

func (w *walker) binopTokens(c, lhs, rhs clang.Cursor) opKind {
	x := clang.Extents3(c, lhs, rhs)
	bs, be, ls, le, rs, re := x[0], x[1], x[2], x[3], x[4], x[5]
	if bs.File == 0 || bs.File != ls.File || bs.File != re.File || bs.Offs != ls.Offs || be.Offs != re.Offs || le.Offs >= rs.Offs {
		return opUnknown
	}
	src := w.tu.Source(bs.File)
	if int(rs.Offs) > len(src) {
		return opUnknown
	}
	return opBetween(src[le.Offs:rs.Offs])
}

// opBetween finds the one operator in the source text between two
// operands (which may hold parentheses, blanks, comments and line
// continuations); opUnknown if there is anything else.
func opBetween(b []byte) opKind {
	kind := opUnknown
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '(' || c == ')':
			i++
			continue
		case c == '\\' && i+1 < len(b) && (b[i+1] == '\n' || b[i+1] == '\r'):
			i += 2
			continue
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			j := bytes.Index(b[i+2:], []byte("*/"))
			if j < 0 {
				return opUnknown
			}
			i += j + 4
			continue
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				return opUnknown
			}
			i += j + 1
			continue
		}
		// one operator token: the longest run of operator characters, or
		// an alternative-token identifier
		j := i
		if isIdentByte(c) {
			for j < len(b) && isIdentByte(b[j]) {
				j++
			}
		} else {
			for j < len(b) && bytes.IndexByte([]byte("+-*/%<>=!&|^,.?:"), b[j]) >= 0 && !(b[j] == '/' && j+1 < len(b) && (b[j+1] == '*' || b[j+1] == '/')) {
				j++
				if b[j-1] == ',' {
					break
				}
			}
		}
		if j == i || kind != opUnknown {
			return opUnknown
		}
		kind = opFromText(string(b[i:j]))
		if kind == opUnknown {
			return opUnknown
		}
		i = j
	}
	return kind
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// opFromText classifies one operator token.
func opFromText(s string) opKind {
	switch s {
	case "&&", "and":
		return opAnd
	case "||", "or":
		return opOr
	case ",":
		return opComma
	case "":
		return opUnknown
	}
	if strings.IndexByte("+-*/%<>=!&|^.", s[0]) >= 0 || s == "bitand" || s == "bitor" || s == "xor" ||
		s == "not_eq" || s == "and_eq" || s == "or_eq" || s == "xor_eq" {
		return opOther
	}
	return opUnknown
}
