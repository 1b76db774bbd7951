package analysis

import (
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// function builds the graph entry of the function (or lambda) at node i.
func (w *walker) function(i int32) {
	t := &w.t
	c := t.cur(i)
	var fn model.Function
	var body int32 = -1
	if t.kind(i) == clang.LambdaExpr {
		d := w.lambda(i)
		fn.USR = d.usr
		fn.Name = w.lambdaName(c)
		fn.Linkage = linkageOf(d)
		fn.Kind = "lambda"
		fn.Type = d.typ
		for k := t.first[i]; k >= 0; k = t.next[k] {
			if t.kind(k) == clang.CompoundStmt {
				body = k
			}
		}
	} else {
		body = w.bodyOf(i)
		if !c.IsDefinition() {
			return
		}
		fn.USR = c.USR()
		d := w.decl(c)
		fn.Type = d.typ
		fn.NoReturn = d.noreturn
		fn.Static = d.static
		if w.lang == "c++" {
			fn.Name = qualName(c)
		} else {
			fn.Name = d.spelling
		}
		switch t.kind(i) {
		case clang.FunctionDecl:
			fn.Kind = "function"
		case clang.CXXMethod, clang.ConversionFunction:
			fn.Kind = "method"
		case clang.Constructor:
			fn.Kind = "constructor"
		case clang.Destructor:
			fn.Kind = "destructor"
		case clang.FunctionTemplate:
			fn.Kind = "template"
		}
		if fn.Kind != "template" && fn.Kind != "function" {
			switch c.SemanticParent().Kind() {
			case clang.ClassTemplate, clang.ClassTemplatePartialSpecialization:
				fn.Kind = "template"
			}
		}
		if fn.Kind != "template" {
			fn.Linkage = d.name
		}
	}
	if body < 0 || fn.USR == "" || w.seenFn[fn.USR] {
		return
	}
	w.seenFn[fn.USR] = true
	fn.Loc = w.loc(c)
	f := &w.f
	f.w = w
	f.t = t
	f.cxx = w.lang == "c++"
	fn.Automaton = *f.build(i, body)
	w.g.Functions = append(w.g.Functions, fn)
}
