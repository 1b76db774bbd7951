package analysis

import (
	"fmt"
	"path/filepath"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// class records a C++ class with bases or virtual methods.
func (w *walker) class(i int32) {
	t := &w.t
	c := t.cur(i)
	if !c.IsDefinition() {
		return
	}
	usr := c.USR()
	if usr == "" || w.seenCls[usr] {
		return
	}
	cls := model.Class{USR: usr, Name: qualName(c)}
	for k := t.first[i]; k >= 0; k = t.next[k] {
		switch t.kind(k) {
		case clang.CXXBaseSpecifier:
			b := t.cur(k).Type().Canonical().Declaration()
			if b.IsNull() {
				// a dependent base (template parameter): name it
				cls.Bases = append(cls.Bases, "?"+t.cur(k).Type().Spelling())
				continue
			}
			if tp := b.SpecializedTemplate(); !tp.IsNull() {
				b = tp
			}
			cls.Bases = append(cls.Bases, b.USR())
		case clang.CXXMethod, clang.Destructor, clang.FunctionTemplate:
			m := t.cur(k)
			fl := m.MethodFlags()
			if fl&clang.MethodVirtual == 0 {
				continue
			}
			d := w.decl(m)
			meth := model.Method{USR: d.usr, Name: m.DisplayName(), Linkage: linkageOf(d), Pure: fl&clang.MethodPure != 0}
			for _, o := range m.Overridden(w.aux) {
				if tp := o.SpecializedTemplate(); !tp.IsNull() {
					o = tp
				}
				meth.Overrides = append(meth.Overrides, o.USR())
			}
			cls.Methods = append(cls.Methods, meth)
		}
	}
	if len(cls.Bases) == 0 && len(cls.Methods) == 0 {
		return
	}
	w.seenCls[usr] = true
	w.g.Classes = append(w.g.Classes, cls)
}

// qualName is ns::C::name for a declaration (display name for functions).
func qualName(c clang.Cursor) string {
	name := c.DisplayName()
	for p := c.SemanticParent(); !p.IsNull(); p = p.SemanticParent() {
		switch p.Kind() {
		case clang.Namespace, clang.StructDecl, clang.ClassDecl, clang.UnionDecl, clang.ClassTemplate,
			clang.ClassTemplatePartialSpecialization, clang.EnumDecl:
			s := p.Spelling()
			if s == "" {
				s = "(anonymous)"
			}
			name = s + "::" + name
		default:
			return name
		}
	}
	return name
}

// lambda returns the function behind a lambda expression: its call
// operator (found through the closure type), with a location-based USR
// when libclang does not expose it.
func (w *walker) lambda(i int32) *declInfo {
	if d, ok := w.lambdas[i]; ok {
		return d
	}
	t := &w.t
	c := t.cur(i)
	var d *declInfo
	cls := c.Type().Declaration()
	if !cls.IsNull() {
		for _, k := range cls.Children(w.aux) {
			if (k.Kind() == clang.CXXMethod || k.Kind() == clang.FunctionTemplate) && k.Spelling() == "operator()" {
				d = w.decl(k)
				break
			}
		}
	}
	if d == nil {
		l := c.Location()
		usr := fmt.Sprintf("lambda:%s:%d:%d", w.tu.FileName(l.File), l.Line, l.Col)
		d = &declInfo{cur: c, kind: clang.LambdaExpr, usr: usr, name: "", spelling: "operator()", typ: c.Type().Canonical().Spelling()}
	}
	w.lambdas[i] = d
	return d
}

// lambdaName is the display name of a lambda: lambda@file:line:col.
func (w *walker) lambdaName(c clang.Cursor) string {
	l := c.Location()
	return fmt.Sprintf("lambda@%s:%d:%d", filepath.Base(w.tu.FileName(l.File)), l.Line, l.Col)
}

// dtorInfo is the user-written destructor of a class type.
type dtorInfo struct {
	usr     string
	label   int32 // call label
	vlabel  int32 // vcall label when the destructor is virtual, else -1
	virtual bool
}

// dtorOf returns the user-provided destructor of a class type (nil for
// non-class types, classes in system headers and classes without one).
func (w *walker) dtorOf(ty clang.Type) *dtorInfo {
	if w.lang != "c++" {
		return nil
	}
	ty = ty.Canonical()
	if ty.Kind() != clang.TypeRecord {
		return nil
	}
	decl := ty.Declaration()
	if decl.IsNull() {
		return nil
	}
	key := decl.Key()
	if d, ok := w.dtors[key]; ok {
		return d
	}
	w.dtors[key] = nil
	if decl.InSystemHeader() {
		return nil
	}
	find := func(c clang.Cursor) clang.Cursor {
		for _, k := range c.Children(w.aux) {
			if k.Kind() == clang.Destructor {
				return k
			}
		}
		return clang.Cursor{}
	}
	dc := find(decl)
	if dc.Kind() != clang.Destructor {
		if tp := decl.SpecializedTemplate(); !tp.IsNull() {
			dc = find(tp)
		}
	}
	if dc.Kind() != clang.Destructor || dc.MethodFlags()&clang.MethodDefaulted != 0 {
		return nil
	}
	di := w.decl(dc)
	d := &dtorInfo{usr: di.usr, label: w.callLabel(di), vlabel: -1, virtual: di.virtual}
	if di.virtual {
		d.vlabel = w.label(model.Label{Kind: model.VCall, Target: di.usr, Name: di.name, Class: di.class, Type: di.typ})
	}
	w.dtors[key] = d
	return d
}

// rangeMembers returns the call labels of a range-for's hidden calls on a
// class range: its begin/end members, and the iterator's operator!=,
// operator++ and operator* (nil when the range is not a class of the
// program: arrays, or classes in system headers).
func (w *walker) rangeMembers(ty clang.Type) (begins, iters []int32) {
	ty = ty.Canonical()
	if ty.IsReference() {
		ty = ty.Pointee().Canonical()
	}
	decl := ty.Declaration()
	if ty.Kind() != clang.TypeRecord || decl.IsNull() || decl.InSystemHeader() {
		return nil, nil
	}
	members := w.methods(decl)
	var itTypes []clang.Type
	for _, m := range members {
		switch m.Spelling() {
		case "begin", "end":
			begins = append(begins, w.callLabel(w.decl(m)))
			itTypes = append(itTypes, m.ResultType())
		}
	}
	seen := map[uintptr]bool{}
	for _, it := range itTypes {
		it = it.Canonical()
		d := it.Declaration()
		if it.Kind() != clang.TypeRecord || d.IsNull() || d.InSystemHeader() || seen[d.Key()] {
			continue
		}
		seen[d.Key()] = true
		for _, m := range w.methods(d) {
			switch m.Spelling() {
			case "operator!=", "operator++", "operator==":
				iters = append(iters, w.callLabel(w.decl(m)))
			}
		}
	}
	return begins, iters
}

// methods lists the member functions declared in a class (through the
// template pattern for specialisations).
func (w *walker) methods(decl clang.Cursor) []clang.Cursor {
	kids := decl.Children(w.aux)
	if tp := decl.SpecializedTemplate(); !tp.IsNull() {
		kids = append(kids, tp.Children(w.aux)...)
	}
	var out []clang.Cursor
	for _, k := range kids {
		switch k.Kind() {
		case clang.CXXMethod, clang.FunctionTemplate, clang.ConversionFunction:
			out = append(out, k)
		}
	}
	return out
}
