package analysis

import "github.com/kcfm-linux/kcfm/tools/clang"

// tree is a flattened cursor subtree (pre-order) with child links, as
// clang.Cursor.CollectTree returns it (views of C memory, read-only).
type tree struct {
	n     []clang.Node
	first []int32
	next  []int32
	end   []int32 // end of the subtree (exclusive)
	// hot: the subtree contains something the control-flow walk must see
	// (a call, a throw, a statement expression, a delete).
	hot []bool
}

func (t *tree) set(ct clang.Tree) {
	t.n, t.first, t.next, t.end, t.hot = ct.Nodes, ct.First, ct.Next, ct.End, ct.Hot
}

func (t *tree) kind(i int32) clang.CursorKind { return t.n[i].Cursor.Kind() }
func (t *tree) cur(i int32) clang.Cursor      { return t.n[i].Cursor }
func (t *tree) parent(i int32) int32          { return t.n[i].Parent }

// kids appends the children of i to dst.
func (t *tree) kids(i int32, dst []int32) []int32 {
	for c := t.first[i]; c >= 0; c = t.next[c] {
		dst = append(dst, c)
	}
	return dst
}

// numKids counts the children of i.
func (t *tree) numKids(i int32) int {
	n := 0
	for c := t.first[i]; c >= 0; c = t.next[c] {
		n++
	}
	return n
}

// lastKid is the last child of i, or -1.
func (t *tree) lastKid(i int32) int32 {
	l := int32(-1)
	for c := t.first[i]; c >= 0; c = t.next[c] {
		l = c
	}
	return l
}

// stripWrappers skips single-child implicit wrappers (UnexposedExpr).
func (t *tree) stripWrappers(i int32) int32 {
	for t.kind(i) == clang.UnexposedExpr && t.first[i] >= 0 && t.next[t.first[i]] < 0 {
		i = t.first[i]
	}
	return i
}

// strip skips implicit wrappers, parentheses and unary * / & around an
// expression (the shapes a callee expression takes).
func (t *tree) strip(i int32) int32 {
	for {
		switch t.kind(i) {
		case clang.UnexposedExpr, clang.ParenExpr, clang.UnaryOperator:
			if t.first[i] >= 0 && t.next[t.first[i]] < 0 {
				i = t.first[i]
				continue
			}
		}
		return i
	}
}

// stripValue skips wrappers and casts around a value (for stores).
func (t *tree) stripValue(i int32) int32 {
	for {
		switch t.kind(i) {
		case clang.UnexposedExpr, clang.ParenExpr, clang.CStyleCastExpr, clang.CXXStaticCastExpr,
			clang.CXXReinterpretCastExpr, clang.CXXConstCastExpr, clang.CXXFunctionalCastExpr:
			if l := t.lastKid(i); l >= 0 {
				i = l
				continue
			}
		case clang.UnaryOperator:
			if t.first[i] >= 0 && t.next[t.first[i]] < 0 {
				i = t.first[i]
				continue
			}
		}
		return i
	}
}

// isFunctionLike reports whether a declaration kind is a function.
func isFunctionLike(k clang.CursorKind) bool {
	switch k {
	case clang.FunctionDecl, clang.CXXMethod, clang.Constructor, clang.Destructor,
		clang.ConversionFunction, clang.FunctionTemplate:
		return true
	}
	return false
}

func isRecordDecl(k clang.CursorKind) bool {
	switch k {
	case clang.StructDecl, clang.ClassDecl, clang.UnionDecl, clang.ClassTemplate,
		clang.ClassTemplatePartialSpecialization:
		return true
	}
	return false
}
