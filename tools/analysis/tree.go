package analysis

import "github.com/kcfm-linux/kcfm/tools/clang"

// tree is a flattened cursor subtree (pre-order) with child links.
type tree struct {
	n     []clang.Node
	first []int32
	next  []int32
	end   []int32 // end of the subtree (exclusive)
	// hot: the subtree contains something the control-flow walk must see
	// (a call, a throw, a statement expression, a delete).
	hot  []bool
	last []int32 // scratch of build
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func (t *tree) build(nodes []clang.Node) {
	n := len(nodes)
	t.n = nodes
	t.first = grow32(t.first, n)
	t.next = grow32(t.next, n)
	t.end = grow32(t.end, n)
	t.last = grow32(t.last, n)
	last := t.last
	if cap(t.hot) < n {
		t.hot = make([]bool, n)
	} else {
		t.hot = t.hot[:n]
	}
	for i := 0; i < n; i++ {
		t.first[i], t.next[i], last[i] = -1, -1, -1
		t.end[i] = int32(i + 1)
		switch nodes[i].Cursor.Kind() {
		case clang.CallExpr, clang.CXXThrowExpr, clang.StmtExpr, clang.CXXDeleteExpr:
			t.hot[i] = true
		default:
			t.hot[i] = false
		}
	}
	for i := 1; i < n; i++ {
		p := nodes[i].Parent
		if p < 0 || int(p) >= i {
			continue
		}
		if last[p] < 0 {
			t.first[p] = int32(i)
		} else {
			t.next[last[p]] = int32(i)
		}
		last[p] = int32(i)
	}
	for i := n - 1; i >= 1; i-- {
		p := nodes[i].Parent
		if p < 0 || int(p) >= i {
			continue
		}
		if t.end[i] > t.end[p] {
			t.end[p] = t.end[i]
		}
		if t.hot[i] {
			t.hot[p] = true
		}
	}
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
