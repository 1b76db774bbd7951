package analysis

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// declInfo caches what the analysis needs about a called or referenced
// function declaration (keyed by the declaration's AST node).
type declInfo struct {
	cur      clang.Cursor
	kind     clang.CursorKind
	usr      string // USR; for specialisations the template's USR
	name     string // linkage name, or the spelling when there is none
	spelling string
	typ      string // canonical function type
	system   bool   // declared in a system header (or a compiler builtin)
	noreturn bool
	builtin  builtinKind
	setjmp   bool
	implicit bool  // compiler-declared special member (no user code)
	lambda   bool  // call operator of a lambda (name is lambda@file:line:col)
	label    int32 // the call label (-1: not made yet)
	virtual  bool
	static   bool // internal linkage
	class    string
}

type builtinKind uint8

const (
	notBuiltin  builtinKind = iota
	builtinNop              // a compiler builtin that is not a call
	builtinHalt             // __builtin_unreachable, __builtin_trap
)

// noreturnNames are library functions that never return (in addition to
// everything declared noreturn). They are matched only for declarations in
// system headers or compiler builtins.
var noreturnNames = map[string]bool{
	"exit": true, "_exit": true, "_Exit": true, "abort": true, "quick_exit": true,
	"longjmp": true, "_longjmp": true, "siglongjmp": true, "__longjmp_chk": true,
	"pthread_exit": true, "thrd_exit": true, "__assert_fail": true, "__assert_perror_fail": true,
	"__assert": true, "__stack_chk_fail": true, "__fortify_fail": true, "__chk_fail": true,
	"err": true, "errx": true, "verr": true, "verrx": true, "terminate": true,
	"__cxa_throw": true, "__cxa_rethrow": true, "__cxa_bad_cast": true, "__cxa_bad_typeid": true,
	"__cxa_pure_virtual": true, "__builtin_longjmp": true,
}

// setjmpNames return twice: the state after the call is a landing point.
var setjmpNames = map[string]bool{
	"setjmp": true, "_setjmp": true, "sigsetjmp": true, "__sigsetjmp": true,
	"__builtin_setjmp": true, "savectx": true, "getcontext": true,
}

// registrars: library functions that call back the function passed as the
// given (0-based) argument. C++ registrars (std::thread, std::async,
// std::call_once ...) take a callable in any position: cxxRegistrars.
var registrars = map[string][]int{
	"signal": {1}, "sigset": {1}, "bsd_signal": {1}, "sysv_signal": {1}, "__sysv_signal": {1},
	"atexit": {0}, "at_quick_exit": {0}, "on_exit": {0}, "__cxa_atexit": {0},
	"pthread_create": {2}, "pthread_once": {1}, "pthread_atfork": {0, 1, 2}, "pthread_key_create": {1},
	"thrd_create": {1}, "call_once": {1}, "tss_create": {1},
	"qsort": {3}, "qsort_r": {3}, "bsearch": {4}, "lfind": {4}, "lsearch": {4},
	"tsearch": {2}, "tfind": {2}, "tdelete": {2}, "twalk": {1}, "twalk_r": {1}, "tdestroy": {1},
	"ftw": {1}, "nftw": {1}, "ftw64": {1}, "nftw64": {1}, "scandir": {2, 3}, "scandir64": {2, 3}, "scandirat": {3, 4},
	"glob": {2}, "glob64": {2}, "dl_iterate_phdr": {0}, "makecontext": {1}, "clone": {0},
}

var cxxRegistrars = map[string]bool{
	"thread": true, "jthread": true, "async": true, "call_once": true, "invoke": false,
}

// decl returns the cached information about a function declaration.
func (w *walker) decl(c clang.Cursor) *declInfo {
	key := c.Key()
	if d, ok := w.decls[key]; ok {
		return d
	}
	d := &declInfo{cur: c, kind: c.Kind(), label: -1}
	w.decls[key] = d
	d.spelling = c.Spelling()
	// An implicit instantiation keeps its template's location; it is
	// graphed as the template. An explicit specialisation is a function
	// of its own.
	usrCur := c
	if w.lang != "c" {
		if t := c.SpecializedTemplate(); !t.IsNull() && t.Location() == c.Location() {
			usrCur = t
		}
	}
	d.usr = usrCur.USR()
	hasAttrs := c.HasAttrs()
	if w.lang == "c" && !hasAttrs {
		// A C function's symbol is its name unless an asm label (an
		// attribute) renames it; mangling is costly in libclang.
		d.name = d.spelling
	} else {
		d.name = c.Mangling()
	}
	if d.name == "" {
		d.name = d.spelling
	}
	if d.spelling == "operator()" {
		// The call operator of a lambda: libclang mangles the closure
		// type with its own numbering ($_0), which is not the symbol the
		// compiler emits; name it by the lambda's location instead.
		if cls := c.SemanticParent(); strings.HasPrefix(cls.Type().Spelling(), "(lambda at ") {
			l := cls.Location()
			d.name = fmt.Sprintf("lambda@%s:%d:%d", filepath.Base(w.tu.FileName(l.File)), l.Line, l.Col)
			d.lambda = true
		}
	}
	ft := c.Type()
	d.typ = ft.Canonical().Spelling()
	d.system = c.InSystemHeader()
	// Builtins are declared implicitly (at their first use): recognise
	// them by their reserved names.
	{
		switch {
		case d.spelling == "__builtin_unreachable" || d.spelling == "__builtin_trap":
			d.builtin = builtinHalt
		case strings.HasPrefix(d.spelling, "__builtin_") || strings.HasPrefix(d.spelling, "__sync_") ||
			strings.HasPrefix(d.spelling, "__atomic_") || strings.HasPrefix(d.spelling, "__c11_atomic_"):
			d.builtin = builtinNop
		}
	}
	if d.system && noreturnNames[d.spelling] {
		d.noreturn = true
	}
	if strings.Contains(d.typ, "__attribute__((noreturn))") {
		d.noreturn = true
	}
	if !d.noreturn && hasAttrs {
		pp := c.PrettyPrinted(true)
		if strings.Contains(pp, "_Noreturn") || strings.Contains(pp, "noreturn") {
			d.noreturn = true
		}
	}
	if d.system && setjmpNames[d.spelling] {
		d.setjmp = true
		d.noreturn = false
	}
	if d.spelling == "__builtin_setjmp" {
		d.setjmp = true
		d.builtin = notBuiltin
	}
	if d.spelling == "__builtin_longjmp" {
		d.builtin = notBuiltin
		d.noreturn = true
	}
	switch d.kind {
	case clang.CXXMethod, clang.Destructor, clang.ConversionFunction:
		d.virtual = c.MethodFlags()&clang.MethodVirtual != 0
	}
	switch d.kind {
	case clang.CXXMethod, clang.Destructor, clang.ConversionFunction, clang.Constructor:
		p := c.SemanticParent()
		if t := p.SpecializedTemplate(); !t.IsNull() {
			p = t
		}
		d.class = p.USR()
		if d.kind == clang.Constructor || d.kind == clang.Destructor {
			// Implicitly declared special members sit at the class's
			// location and have no user code.
			if c.Location() == c.SemanticParent().Location() {
				d.implicit = true
			}
		}
	}
	d.static = c.Linkage() == clang.LinkageInternal
	return d
}

// callInfo is the classification of one call expression.
type callInfo struct {
	callee   int32   // the callee sub-expression (-1: none, constructors)
	args     []int32 // argument sub-expressions
	labels   []int32 // alternative labels (several for dependent calls)
	optional bool    // the call may not produce an event
	halt     bool    // the call does not return
	landing  bool    // the call returns twice (setjmp)
	site     int32
	decl     *declInfo // direct callee, if known
}

// keyedSpelling is a cached declaration spelling with the kind of the
// cursor it was read from.
type keyedSpelling struct {
	kind     clang.CursorKind
	spelling string
}

// declSpelling is d.Spelling() for a declaration cursor d, cached: from
// decls when d is in it, otherwise from spellings (most calls are of
// functions and through slots seen before: no cgo call).
func (w *walker) declSpelling(d clang.Cursor) string {
	key, kind := d.Key(), d.Kind()
	if di, ok := w.decls[key]; ok && di.kind == kind {
		return di.spelling
	}
	if ks, ok := w.spellings[key]; ok && ks.kind == kind {
		return ks.spelling
	}
	s := d.Spelling()
	if kind.IsDecl() {
		w.spellings[key] = keyedSpelling{kind, s}
	}
	return s
}

// classify decides what call expression i of tree t calls.
func (w *walker) classify(t *tree, i int32, thisClass func() string) *callInfo {
	w.ciSlab = append(w.ciSlab, callInfo{callee: -1, site: -1})
	ci := &w.ciSlab[len(w.ciSlab)-1]
	c := t.cur(i)
	ref := c.Referenced()
	refKind := ref.Kind()
	// children: kept in a per-tree arena (args points into it)
	start := len(w.kidArena)
	w.kidArena = t.kids(i, w.kidArena)
	kids := w.kidArena[start:len(w.kidArena):len(w.kidArena)]
	ci.site = w.site(c)
	if refKind == clang.Constructor {
		// CXXConstructExpr: no callee child, every child is an argument.
		ci.args = kids
		d := w.decl(ref)
		ci.decl = d
		ci.labels = []int32{w.callLabel(d)}
		ci.optional = d.implicit
		return ci
	}
	if refKind != clang.Constructor && ref.IsNull() && c.NumArguments() < 0 {
		// Not a call: in a template, T(x) / bool(x) with a dependent
		// operand (CXXUnresolvedConstructExpr) shows as a CallExpr. For
		// a class template type, its constructors may run (optional).
		ci.args = kids
		ci.optional = true
		if d := c.Type().Declaration(); !d.IsNull() && !d.InSystemHeader() {
			if tp := d.SpecializedTemplate(); !tp.IsNull() {
				d = tp
			}
			for _, k := range d.Children(w.aux) {
				if k.Kind() == clang.Constructor || k.Kind() == clang.FunctionTemplate && k.Spelling() == d.Spelling() {
					ci.labels = append(ci.labels, w.callLabel(w.decl(k)))
				}
			}
		}
		return ci
	}
	if len(kids) == 0 {
		// A call with no visible callee (should not happen); treat as
		// an unknown indirect call.
		ci.labels = []int32{w.label(model.Label{Kind: model.ICall, Type: c.Type().Canonical().Spelling()})}
		return ci
	}
	callee := kids[0]
	if isFunctionLike(refKind) && strings.HasPrefix(w.declSpelling(ref), "operator") {
		// CXXOperatorCallExpr: children are arg0, callee, arg1 ... (or
		// callee, arg0 for prefix operators); find the callee child.
		rk := ref.Key()
		for _, k := range kids {
			s := t.strip(k)
			if (t.kind(s) == clang.DeclRefExpr || t.kind(s) == clang.MemberRefExpr) && t.cur(s).Referenced().Key() == rk {
				callee = k
				break
			}
		}
	}
	ci.callee = callee
	if callee == kids[0] {
		ci.args = kids[1:]
	} else {
		for _, k := range kids {
			if k != callee {
				ci.args = append(ci.args, k)
			}
		}
	}
	s := t.strip(callee)
	sc := t.cur(s)
	// The call's referenced declaration is found through the callee
	// expression; when that is a plain name or member (possibly behind the
	// implicit decay to a pointer) it is the name's. Otherwise (parens,
	// dereferences) ask the name itself.
	if !(s == callee || t.parent(s) == callee && t.kind(callee) == clang.UnexposedExpr) {
		ref = sc.Referenced()
	}
	switch t.kind(s) {
	case clang.DeclRefExpr:
		r := ref
		switch {
		case isFunctionLike(r.Kind()):
			w.isCallee[s] = true
			w.direct(ci, t, r, i)
			return ci
		case r.Kind() == clang.VarDecl || r.Kind() == clang.ParmDecl:
			ci.labels = []int32{w.icallLabel(t, callee, w.slotOf(r), w.declSpelling(r))}
			if r.Kind() == clang.ParmDecl {
				w.escape(w.slotOf(r))
			}
			return ci
		case r.Kind() == clang.OverloadedDeclRef || r.IsNull():
			// Dependent call in a template: resolved per instantiation;
			// recorded by name.
			name := w.dependentName(t, s, r)
			ci.labels = []int32{w.dependentLabel(name, t, callee)}
			return ci
		}
	case clang.MemberRefExpr:
		r := ref
		switch {
		case isFunctionLike(r.Kind()):
			w.isCallee[s] = true
			d := w.decl(r)
			if d.virtual && c.IsDynamicCall() && !w.completeObject(t, s) {
				cls := w.staticClass(t, s, thisClass)
				ci.decl = d
				ci.labels = []int32{w.label(model.Label{Kind: model.VCall, Target: d.usr, Name: d.name, Class: cls, Type: d.typ})}
				ci.halt = d.noreturn
				return ci
			}
			w.direct(ci, t, r, i)
			return ci
		case r.Kind() == clang.FieldDecl || r.Kind() == clang.VarDecl:
			ci.labels = []int32{w.icallLabel(t, callee, w.slotOf(r), w.declSpelling(r))}
			return ci
		case r.IsNull() || r.Kind() == clang.OverloadedDeclRef:
			name := w.dependentName(t, s, r)
			ci.labels = []int32{w.dependentLabel(name, t, callee)}
			return ci
		}
	case clang.ArraySubscriptExpr:
		// table[i](...): the slot is the table.
		slot, name := "", ""
		if b := t.first[s]; b >= 0 {
			bs := t.strip(b)
			if k := t.kind(bs); k == clang.DeclRefExpr || k == clang.MemberRefExpr {
				r := t.cur(bs).Referenced()
				if r.Kind() == clang.VarDecl || r.Kind() == clang.FieldDecl || r.Kind() == clang.ParmDecl {
					slot, name = w.slotOf(r), w.declSpelling(r)
					if r.Kind() == clang.ParmDecl {
						w.escape(slot)
					}
				}
			}
		}
		ci.labels = []int32{w.icallLabel(t, callee, slot, name)}
		return ci
	}
	ci.labels = []int32{w.icallLabel(t, callee, "", "")}
	return ci
}

// direct fills in a direct call of function declaration r.
func (w *walker) direct(ci *callInfo, t *tree, r clang.Cursor, call int32) {
	d := w.decl(r)
	ci.decl = d
	switch d.builtin {
	case builtinNop:
		return
	case builtinHalt:
		ci.halt = true
		return
	}
	if d.system && d.spelling == "syscall" && len(ci.args) > 0 {
		if nr, ok := t.cur(ci.args[0]).EvaluateInt(); ok && nr >= 0 && nr <= 4095 {
			ci.labels = []int32{w.label(model.Label{Kind: model.Syscall, Nr: int(nr)})}
			return
		}
	}
	ci.labels = []int32{w.callLabel(d)}
	ci.halt = d.noreturn
	ci.landing = d.setjmp
	ci.optional = d.implicit
}

func (w *walker) callLabel(d *declInfo) int32 {
	if d.label < 0 {
		d.label = w.label(model.Label{Kind: model.Call, Target: d.usr, Name: d.name, Type: d.typ, NoReturn: d.noreturn})
	}
	return d.label
}

func (w *walker) dependentLabel(name string, t *tree, callee int32) int32 {
	if name == "" {
		w.warn(t.cur(callee), "dependent call with no visible name; recorded as an indirect call of unknown type")
		return w.label(model.Label{Kind: model.ICall, Type: "<dependent>"})
	}
	return w.label(model.Label{Kind: model.Call, Name: name})
}

// icallLabel builds the label of a call through a pointer.
func (w *walker) icallLabel(t *tree, callee int32, slot, name string) int32 {
	typ := t.cur(callee).Type()
	ty := w.fnType(typ)
	return w.icallLabelTyped(t, callee, typ, ty, slot, name)
}

func (w *walker) icallLabelTyped(t *tree, callee int32, typ clang.Type, ty, slot, name string) int32 {
	if ty == "" && t.kind(t.strip(callee)) == clang.BinaryOperator {
		// (obj.*pmf)(...): the bound member function type; use the
		// member pointer's function type.
		if l := t.lastKid(t.strip(callee)); l >= 0 {
			ty = w.fnType(t.cur(l).Type())
		}
	}
	if ty == "" {
		ty = typ.Canonical().Spelling()
	}
	return w.label(model.Label{Kind: model.ICall, Type: ty, Slot: slot, Name: name})
}

// fnType is the canonical function type a callee type designates (through
// pointers, references and member pointers), or "".
func (w *walker) fnType(t clang.Type) string {
	t = t.Canonical()
	k := t.Key()
	if s, ok := w.fnTypes[k]; ok {
		return s
	}
	s := w.fnTypeUncached(t)
	w.fnTypes[k] = s
	return s
}

func (w *walker) fnTypeUncached(t clang.Type) string {
	for i := 0; i < 3; i++ {
		switch {
		case t.IsFunction():
			return t.Spelling()
		case t.IsPointerLike() || t.IsReference():
			t = t.Pointee().Canonical()
		default:
			return ""
		}
	}
	return ""
}

// isFnPtr reports whether a type is a pointer to a function.
func isFnPtr(t clang.Type) bool { return t.IsFunctionPointer() }

// slotOf names the slot a variable, parameter or field is (cached).
func (w *walker) slotOf(r clang.Cursor) string {
	k := r.Key()
	if s, ok := w.usrs[k]; ok {
		return s
	}
	s := "var:" + r.USR()
	if r.Kind() == clang.FieldDecl {
		s = "field:" + r.USR()
	}
	w.usrs[k] = s
	return s
}

// completeObject: obj.f() on a variable of class type (not a pointer or
// reference) calls the static type's method even if it is virtual.
func (w *walker) completeObject(t *tree, member int32) bool {
	b := t.first[member]
	if b < 0 {
		return false
	}
	bs := t.strip(b)
	if t.kind(bs) != clang.DeclRefExpr {
		return false
	}
	r := t.cur(bs).Referenced()
	if r.Kind() != clang.VarDecl && r.Kind() != clang.ParmDecl {
		return false
	}
	k := r.Type().Canonical().Kind()
	return k == clang.TypeRecord
}

// staticClass is the USR of the class of the object a member call is made
// on (the implicit this: the enclosing method's class).
func (w *walker) staticClass(t *tree, member int32, thisClass func() string) string {
	b := t.first[member]
	if b < 0 {
		return thisClass()
	}
	ty := t.cur(b).Type().Canonical()
	if ty.IsPointerLike() || ty.IsReference() {
		ty = ty.Pointee().Canonical()
	}
	d := ty.Declaration()
	if d.IsNull() {
		return thisClass()
	}
	if tp := d.SpecializedTemplate(); !tp.IsNull() {
		d = tp
	}
	return d.USR()
}

// dependentName is the spelled name of a dependent callee: the
// overloaded reference's name, an OverloadedDeclRef child's, or the last
// identifier of its tokens.
func (w *walker) dependentName(t *tree, s int32, r clang.Cursor) string {
	if r.Kind() == clang.OverloadedDeclRef {
		if n := r.Spelling(); n != "" {
			return n
		}
	}
	for k := t.first[s]; k >= 0; k = t.next[k] {
		if t.kind(k) == clang.OverloadedDeclRef {
			if n := t.cur(k).Spelling(); n != "" {
				return n
			}
		}
	}
	return lastIdent(w.tu.Tokens(t.cur(s)))
}

// lastIdent returns the last identifier among tokens (a member or
// function name in a dependent expression).
func lastIdent(toks []string) string {
	for i := len(toks) - 1; i >= 0; i-- {
		s := toks[i]
		if s == "" || s == "template" || s == "operator" {
			continue
		}
		c := s[0]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return s
		}
	}
	return ""
}
