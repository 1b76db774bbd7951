package analysis

import (
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// facts classifies the calls of the current tree and records the TU-level
// facts found in it.
func (w *walker) facts() {
	t := &w.t
	n := int32(len(t.n))
	for i := int32(0); i < n; i++ {
		switch t.kind(i) {
		case clang.CallExpr:
			var this func() string
			if w.lang == "c++" {
				this = w.thisClassAt(i)
			}
			ci := w.classify(t, i, this)
			w.calls[i] = ci
			w.registrarCall(t, i, ci)
		case clang.DeclRefExpr:
			if w.isCallee[i] {
				continue
			}
			if k, ok := t.n[i].RefKind(); ok && !isFunctionLike(k) {
				continue // the common case, without a cgo call
			}
			c := t.cur(i)
			r := c.Referenced()
			if isFunctionLike(r.Kind()) {
				w.addressTaken(r, c)
			}
		case clang.BinaryOperator:
			w.assignment(i)
		case clang.UnaryOperator:
			w.addressOf(i)
		case clang.VarDecl:
			w.varFacts(i)
		case clang.InitListExpr:
			p := t.parent(i)
			for p >= 0 && t.kind(p) == clang.UnexposedExpr {
				p = t.parent(p)
			}
			if p >= 0 && (t.kind(p) == clang.InitListExpr || t.kind(p) == clang.VarDecl) {
				continue
			}
			w.initList("", i)
		case clang.LambdaExpr:
			if d := w.lambda(i); d != nil {
				w.addFuncRef(d, t.cur(i))
			}
		case clang.StructDecl, clang.ClassDecl, clang.ClassTemplate, clang.ClassTemplatePartialSpecialization:
			if w.lang == "c++" {
				w.class(i)
			}
		case clang.SwitchStmt, clang.CXXForRangeStmt:
			if w.lang == "c++" {
				w.hiddenInit(i)
			}
		case clang.FunctionDecl:
			w.attrFacts(t.cur(i))
		}
	}
}

// hiddenInit warns about a C++17/20 init-statement of a switch or a
// range-for: libclang-15 does not expose it, so its calls are missing.
func (w *walker) hiddenInit(i int32) {
	t := &w.t
	k := t.first[i]
	if k < 0 {
		return
	}
	toks := w.tu.TokensBetween(t.cur(i), false, t.cur(k), false)
	if len(toks) < 2 || toks[1] != "(" {
		return
	}
	depth := 0
	for _, s := range toks[1:] {
		switch s {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ";":
			if depth == 1 {
				w.warn(t.cur(i), "the init-statement of this %s is not visible in libclang-15: calls in it are missing from the graph", map[bool]string{true: "switch", false: "range-for"}[t.kind(i) == clang.SwitchStmt])
				return
			}
		}
	}
}

// attrFacts: functions declared __attribute__((constructor)) or
// ((destructor)) run before main / at exit.
func (w *walker) attrFacts(c clang.Cursor) {
	if !c.HasAttrs() {
		return
	}
	pp := c.PrettyPrinted(true)
	if strings.Contains(pp, "__attribute__((constructor") {
		w.ctors[c.USR()] = true
	}
	if strings.Contains(pp, "__attribute__((destructor") {
		w.dtorsAt[c.USR()] = true
	}
}

// thisClassAt returns a function computing the class of the implicit
// this at node i (the class of the enclosing method).
func (w *walker) thisClassAt(i int32) func() string {
	return func() string {
		t := &w.t
		for p := t.parent(i); p >= 0; p = t.parent(p) {
			switch t.kind(p) {
			case clang.CXXMethod, clang.Constructor, clang.Destructor, clang.ConversionFunction:
				c := t.cur(p).SemanticParent()
				if tp := c.SpecializedTemplate(); !tp.IsNull() {
					c = tp
				}
				return c.USR()
			case clang.StructDecl, clang.ClassDecl, clang.ClassTemplate, clang.ClassTemplatePartialSpecialization:
				return t.cur(p).USR()
			}
		}
		return ""
	}
}

func (w *walker) addressTaken(r, at clang.Cursor) {
	d := w.decl(r)
	w.addFuncRef(d, at)
}

func (w *walker) addFuncRef(d *declInfo, at clang.Cursor) {
	if w.seenAddr[d.usr] {
		return
	}
	w.seenAddr[d.usr] = true
	w.g.AddressTaken = append(w.g.AddressTaken, model.FuncRef{USR: d.usr, Linkage: linkageOf(d), Type: d.typ, Loc: w.loc(at)})
}

// linkageOf is the symbol of a function, empty when there is no single
// one (templates) or libclang cannot tell it (lambdas).
func linkageOf(d *declInfo) string {
	if d.lambda || d.name == d.spelling && d.kind == clang.FunctionTemplate {
		return ""
	}
	return d.name
}

// functionValue returns the function a stored value designates: a
// function name (possibly &f, cast or parenthesised) or a lambda.
func (w *walker) functionValue(i int32) *declInfo {
	t := &w.t
	s := t.stripValue(i)
	switch t.kind(s) {
	case clang.DeclRefExpr:
		r := t.cur(s).Referenced()
		if isFunctionLike(r.Kind()) {
			return w.decl(r)
		}
	case clang.LambdaExpr:
		return w.lambda(s)
	}
	return nil
}

// isNullConst: 0, NULL, nullptr.
func (w *walker) isNullConst(i int32) bool {
	t := &w.t
	s := t.stripValue(i)
	switch t.kind(s) {
	case clang.IntegerLiteral, clang.CursorKind(123) /* GNUNullExpr */, clang.CursorKind(131): /* CXXNullPtrLiteralExpr */
		return true
	}
	return false
}

// registrarCall records callbacks handed to library functions.
func (w *walker) registrarCall(t *tree, i int32, ci *callInfo) {
	d := ci.decl
	if d == nil || !d.system {
		return
	}
	if idx, ok := registrars[d.spelling]; ok && (d.kind == clang.FunctionDecl) {
		for _, a := range idx {
			if a >= len(ci.args) {
				continue
			}
			arg := ci.args[a]
			if fd := w.functionValue(arg); fd != nil {
				w.callback(d.spelling, fd, t.cur(arg))
			} else if !w.isNullConst(arg) {
				w.warn(t.cur(arg), "callback passed to %s is not a function name; the linker must assume any address-taken function of its type", d.spelling)
			}
		}
		return
	}
	if w.lang == "c++" && cxxRegistrars[d.spelling] {
		for _, arg := range ci.args {
			if fd := w.functionValue(arg); fd != nil {
				w.callback("std::"+d.spelling, fd, t.cur(arg))
			}
		}
	}
}

func (w *walker) callback(reg string, d *declInfo, at clang.Cursor) {
	k := reg + "\x00" + d.usr
	if w.seenCb[k] {
		return
	}
	w.seenCb[k] = true
	w.g.Callbacks = append(w.g.Callbacks, model.Callback{Registrar: reg, USR: d.usr, Linkage: linkageOf(d), Loc: w.loc(at)})
}

// slotDecl returns the declaration of the slot an lvalue expression
// designates (a variable, a parameter, a field, or an element of an array
// variable or field).
func (w *walker) slotDecl(i int32) (clang.Cursor, bool) {
	t := &w.t
	s := i
	for t.kind(s) == clang.ParenExpr || t.kind(s) == clang.UnexposedExpr {
		if t.first[s] < 0 || t.next[t.first[s]] >= 0 {
			break
		}
		s = t.first[s]
	}
	if t.kind(s) == clang.ArraySubscriptExpr {
		s = t.first[s]
		for s >= 0 && (t.kind(s) == clang.ParenExpr || t.kind(s) == clang.UnexposedExpr) {
			s = t.first[s]
		}
		if s < 0 {
			return clang.Cursor{}, false
		}
	}
	switch t.kind(s) {
	case clang.DeclRefExpr, clang.MemberRefExpr:
		r := t.cur(s).Referenced()
		switch r.Kind() {
		case clang.VarDecl, clang.ParmDecl, clang.FieldDecl:
			return r, true
		}
	}
	return clang.Cursor{}, false
}

// isSlotShape: the structural part of slotDecl (no cgo).
func (w *walker) isSlotShape(i int32) bool {
	t := &w.t
	s := i
	for (t.kind(s) == clang.ParenExpr || t.kind(s) == clang.UnexposedExpr || t.kind(s) == clang.ArraySubscriptExpr) && t.first[s] >= 0 {
		s = t.first[s]
	}
	return t.kind(s) == clang.DeclRefExpr || t.kind(s) == clang.MemberRefExpr
}

// assignment records `slot = value` for function-pointer slots.
func (w *walker) assignment(i int32) {
	t := &w.t
	l := t.first[i]
	if l < 0 || t.next[l] < 0 {
		return
	}
	r := t.next[l]
	if !w.isSlotShape(l) {
		return
	}
	if fp, ok := t.n[i].FnPtrType(); ok && !fp || !ok && !isFnPtr(t.cur(i).Type()) {
		return
	}
	if !isFnPtr(t.cur(l).Type()) {
		return
	}
	decl, ok := w.slotDecl(l)
	if !ok {
		return
	}
	w.store(w.slotOf(decl), decl, r, t.cur(i))
}

// store records the value(s) stored into a slot.
func (w *walker) store(slot string, decl clang.Cursor, v int32, at clang.Cursor) {
	t := &w.t
	s := t.stripValue(v)
	if t.kind(s) == clang.ConditionalOperator {
		k := t.kids(s, nil)
		if len(k) == 3 {
			w.store(slot, decl, k[1], at)
			w.store(slot, decl, k[2], at)
			return
		}
	}
	if w.isNullConst(v) {
		return
	}
	ss := model.SlotStore{Slot: slot, Loc: w.loc(at)}
	fd := w.functionValue(v)
	if fd != nil {
		ss.USR = fd.usr
	}
	if !w.seenSlot[ss] {
		w.seenSlot[ss] = true
		w.g.SlotStores = append(w.g.SlotStores, ss)
	}
	// A function stored into a field of a library structure is called
	// back by the library (struct sigaction's sa_handler, cookie I/O
	// functions ...).
	if fd != nil && decl.Kind() == clang.FieldDecl && decl.InSystemHeader() {
		f := decl.Spelling()
		reg := ""
		switch f {
		case "sa_handler", "sa_sigaction":
			reg = "sigaction"
		default:
			reg = "field " + decl.SemanticParent().Spelling() + "." + f
		}
		w.callback(reg, fd, at)
	}
}

// addressOf: &slot of a function-pointer slot lets it be written
// invisibly: the slot escapes.
func (w *walker) addressOf(i int32) {
	t := &w.t
	o := t.first[i]
	if o < 0 || t.next[o] >= 0 {
		return
	}
	if !w.isSlotShape(o) {
		return
	}
	if !t.cur(i).Type().IsPointerToFunctionPointer() || !isFnPtr(t.cur(o).Type()) {
		return
	}
	if decl, ok := w.slotDecl(o); ok {
		w.escape(w.slotOf(decl))
	}
}

// varFacts: initialisers of function-pointer variables (and of
// structures/arrays holding them); globals with dynamic initialisation
// and destructors.
func (w *walker) varFacts(i int32) {
	t := &w.t
	if t.first[i] < 0 {
		return
	}
	c := t.cur(i)
	init := w.varInit(i)
	if init >= 0 {
		s := init
		for t.kind(s) == clang.UnexposedExpr && t.first[s] >= 0 && t.next[t.first[s]] < 0 {
			s = t.first[s]
		}
		if t.kind(s) == clang.InitListExpr {
			w.initList(w.slotOf(c), s)
		} else if isFnPtr(c.Type()) {
			w.store(w.slotOf(c), c, init, c)
		}
	}
}

// globalFacts: a global (the tree's root variable) with a dynamic
// initialiser runs the functions it calls before main; its destructor at
// exit. Runs after the calls of the tree are classified.
func (w *walker) globalFacts() {
	t := &w.t
	if len(t.n) == 0 || t.kind(0) != clang.VarDecl || w.lang != "c++" {
		return
	}
	i := int32(0)
	c := t.cur(i)
	init := w.varInit(i)
	if init >= 0 && t.hot[init] {
		for j := init; j < t.end[init]; j++ {
			if ci := w.calls[j]; ci != nil && ci.decl != nil && ci.decl.builtin == notBuiltin {
				w.ctors[ci.decl.usr] = true
			}
		}
	}
	if d := w.dtorOf(c.Type()); d != nil {
		w.dtorsAt[d.usr] = true
	}
}

// varInit returns the child of VarDecl i that is its initialiser, or -1.
func (w *walker) varInit(i int32) int32 {
	t := &w.t
	last := int32(-1)
	for k := t.first[i]; k >= 0; k = t.next[k] {
		if t.kind(k).IsExpr() {
			last = k
		}
	}
	if last < 0 {
		return -1
	}
	ic := t.cur(i).VarInit()
	if ic.IsNull() {
		return -1
	}
	key := ic.Key()
	for k := t.first[i]; k >= 0; k = t.next[k] {
		if t.kind(k).IsExpr() && t.cur(k).Key() == key {
			return k
		}
	}
	return last
}

// initList records the function pointers an initialiser list stores.
// slot is the slot of the object initialised when it is an array (every
// element shares the array's slot); fields of structures have their own.
func (w *walker) initList(slot string, i int32) {
	t := &w.t
	ty := t.cur(i).Type().Canonical()
	if ty.Kind() == clang.TypeRecord {
		fields := w.fields(ty.Declaration())
		pos := 0
		for k := t.first[i]; k >= 0; k = t.next[k] {
			v := k
			var field clang.Cursor
			ok := false
			if t.kind(k) == clang.UnexposedExpr && t.first[k] >= 0 && t.kind(t.first[k]) == clang.MemberRef {
				// designated: .a.b = v
				for m := t.first[k]; m >= 0; m = t.next[m] {
					if t.kind(m) == clang.MemberRef {
						field = t.cur(m).Referenced()
						ok = true
					}
				}
				v = t.lastKid(k)
				for j, f := range fields {
					if f.Equal(field) {
						pos = j + 1
					}
				}
			} else if pos < len(fields) {
				field = fields[pos]
				pos++
				ok = true
			}
			if !ok {
				continue
			}
			w.initElem(w.slotOf(field), field, v)
		}
		return
	}
	// An array of arithmetic elements (the big tables of byte and integer
	// constants) holds no function pointer: its elements' types are not
	// asked one by one (two cgo calls each). A function designator among
	// them (cast to an integer) is still seen by functionValue.
	scalar := false
	if k := ty.Kind(); k == clang.TypeConstantArray || k == clang.TypeIncompleteArray {
		scalar = arrayElem(ty).Kind().IsArithmetic()
	}
	for k := t.first[i]; k >= 0; k = t.next[k] {
		v := k
		if t.kind(k) == clang.UnexposedExpr && t.numKids(k) >= 2 {
			v = t.lastKid(k) // [n] = v
		}
		if scalar && t.kind(t.stripWrappers(v)) != clang.InitListExpr {
			if slot != "" && w.functionValue(v) != nil {
				w.store(slot, clang.Cursor{}, v, t.cur(v))
			}
			continue
		}
		w.initElem(slot, clang.Cursor{}, v)
	}
}

func (w *walker) initElem(slot string, decl clang.Cursor, v int32) {
	t := &w.t
	if s := t.stripWrappers(v); t.kind(s) == clang.InitListExpr {
		w.initList(slot, s)
		return
	}
	if slot == "" {
		return
	}
	if w.functionValue(v) != nil || isFnPtr(t.cur(v).Type()) {
		w.store(slot, decl, v, t.cur(v))
	}
}

// fields lists the fields of a record declaration in order (cached).
func (w *walker) fields(rec clang.Cursor) []clang.Cursor {
	if rec.IsNull() {
		return nil
	}
	key := rec.Key()
	if f, ok := w.fieldsOf[key]; ok {
		return f
	}
	var out []clang.Cursor
	for _, k := range rec.Children(w.aux) {
		if k.Kind() == clang.FieldDecl {
			out = append(out, k)
		}
	}
	w.fieldsOf[key] = out
	return out
}
