package clang

import (
	"path/filepath"
	"strings"
	"testing"
)

// isFnPtrSlow is the Go definition the C-side facts must agree with.
func isFnPtrSlow(t Type) bool {
	t = t.Canonical()
	if t.Kind() != TypePointer && t.Kind() != TypeBlockPointer {
		return false
	}
	return t.Pointee().Canonical().IsFunction()
}

func TestIsDeclMatchesLibclang(t *testing.T) {
	for k := CursorKind(0); k < 1000; k++ {
		if k.IsDecl() != k.isDeclC() {
			t.Errorf("kind %d (%s): IsDecl %v, clang_isDeclaration %v", k, k.Spelling(), k.IsDecl(), k.isDeclC())
		}
	}
}

// eachTop calls fn with every top-level declaration of the analysis test
// inputs (and extra files), a buffer to flatten it into (SetC for C
// inputs when setC) and a second buffer for other queries.
func eachTop(t *testing.T, extra []string, setC bool, fn func(file string, cxx bool, top Cursor, b, aux *Buffer)) {
	t.Helper()
	files, err := filepath.Glob("../analysis/testdata/*.c*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test inputs: %v", err)
	}
	for _, f := range append(files, extra...) {
		cxx := strings.HasSuffix(f, ".cpp")
		var args []string
		if cxx {
			args = []string{"-std=c++17"}
		}
		_, tu := parse(t, f, args...)
		b, aux := NewBuffer(), NewBuffer()
		b.SetC(setC && !cxx)
		tops, err := tu.TopLevel(aux, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, top := range tops {
			fn(f, cxx, top, b, aux)
		}
		b.Free()
		aux.Free()
	}
}

// TestCollectFacts checks the facts computed in C while flattening (and
// the cgo-free IsNull) against the libclang queries they replace, on every
// node of the analysis test inputs.
func TestCollectFacts(t *testing.T) {
	var refs, ops, fpAssigns int
	eachTop(t, []string{"testdata/sample.c"}, false, func(f string, _ bool, top Cursor, b, aux *Buffer) {
		nodes, err := top.CollectView(b)
		if err != nil {
			t.Fatal(err)
		}
		checkTree(t, f, top, b)
		nodes, err = top.CollectView(b)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := top.Collect(aux, nil)
		if err != nil || len(copied) != len(nodes) {
			t.Fatalf("%s: Collect gave %d nodes (%v), CollectView %d", f, len(copied), err, len(nodes))
		}
		for i := range nodes {
			n := &nodes[i]
			c := n.Cursor
			if copied[i] != *n {
				t.Errorf("%s: node %d: Collect and CollectView differ", f, i)
			}
			if c.IsNull() != c.isNullC() {
				t.Errorf("%s: node %d (%s): IsNull %v, clang_Cursor_isNull %v", f, i, c.Kind().Spelling(), c.IsNull(), c.isNullC())
			}
			k, ok := n.RefKind()
			switch c.Kind() {
			case DeclRefExpr, MemberRefExpr:
				r := c.Referenced()
				if !ok || k != r.Kind() {
					t.Errorf("%s: node %d (%s %s): RefKind %v %v, Referenced().Kind() %v", f, i, c.Kind().Spelling(), c.Spelling(), k, ok, r.Kind())
				}
				if r.IsNull() != r.isNullC() {
					t.Errorf("%s: node %d: IsNull of the referenced cursor %v, clang_Cursor_isNull %v", f, i, r.IsNull(), r.isNullC())
				}
				refs++
			default:
				if ok {
					t.Errorf("%s: node %d (%s): RefKind set", f, i, c.Kind().Spelling())
				}
			}
			fp, ok := n.FnPtrType()
			switch c.Kind() {
			case BinaryOperator:
				if !ok || fp != isFnPtrSlow(c.Type()) {
					t.Errorf("%s: node %d: FnPtrType %v %v, want %v", f, i, fp, ok, isFnPtrSlow(c.Type()))
				}
				ops++
			default:
				if ok {
					t.Errorf("%s: node %d (%s): FnPtrType set", f, i, c.Kind().Spelling())
				}
			}
			if ty := c.Type(); ty.IsFunctionPointer() != isFnPtrSlow(ty) {
				t.Errorf("%s: node %d: IsFunctionPointer %v, want %v", f, i, ty.IsFunctionPointer(), isFnPtrSlow(ty))
			} else if fp {
				fpAssigns++ // counts function-pointer assignments seen
			}
			if ty := c.Type().Canonical(); ty.IsPointerToFunctionPointer() != (ty.Kind() == TypePointer && isFnPtrSlow(ty.Pointee())) {
				t.Errorf("%s: node %d: IsPointerToFunctionPointer %v", f, i, ty.IsPointerToFunctionPointer())
			}
		}
	})
	if refs == 0 || ops == 0 || fpAssigns == 0 {
		t.Errorf("inputs exercise too little: %d references, %d binary operators, %d function-pointer assignments", refs, ops, fpAssigns)
	}
	if !NullCursor().IsNull() || !NullCursor().isNullC() {
		t.Error("NullCursor is not null")
	}
}

// checkTree compares CollectTree's links with a Go computation from the
// parent indices.
func checkTree(t *testing.T, file string, top Cursor, b *Buffer) {
	t.Helper()
	tr, err := top.CollectTree(b)
	if err != nil {
		t.Fatal(err)
	}
	n := len(tr.Nodes)
	if len(tr.First) != n || len(tr.Next) != n || len(tr.End) != n || len(tr.Hot) != n {
		t.Fatalf("%s: tree arrays of %d nodes: %d %d %d %d", file, n, len(tr.First), len(tr.Next), len(tr.End), len(tr.Hot))
	}
	first, next, last, end := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	hot := make([]bool, n)
	for i := range first {
		first[i], next[i], last[i], end[i] = -1, -1, -1, int32(i+1)
		switch tr.Nodes[i].Cursor.Kind() {
		case CallExpr, CXXThrowExpr, StmtExpr, CXXDeleteExpr:
			hot[i] = true
		}
	}
	for i := 1; i < n; i++ {
		p := tr.Nodes[i].Parent
		if p < 0 || int(p) >= i {
			t.Fatalf("%s: node %d has parent %d", file, i, p)
		}
		if last[p] < 0 {
			first[p] = int32(i)
		} else {
			next[last[p]] = int32(i)
		}
		last[p] = int32(i)
	}
	for i := n - 1; i >= 1; i-- {
		p := tr.Nodes[i].Parent
		if end[i] > end[p] {
			end[p] = end[i]
		}
		if hot[i] {
			hot[p] = true
		}
	}
	for i := 0; i < n; i++ {
		if tr.First[i] != first[i] || tr.Next[i] != next[i] || tr.End[i] != end[i] || tr.Hot[i] != hot[i] {
			t.Fatalf("%s: node %d (%s): C links first %d next %d end %d hot %v, want %d %d %d %v", file, i,
				tr.Nodes[i].Cursor.Kind().Spelling(), tr.First[i], tr.Next[i], tr.End[i], tr.Hot[i], first[i], next[i], end[i], hot[i])
		}
	}
}

// TestCollectLeaves: the kinds fc_collect does not recurse into have no
// children the analysis could miss. libclang's own children of each such
// node are none, or (a ConstantExpr: case labels, array sizes) one node of
// the same kind, the wrapped expression again. In C++ a DeclRefExpr keeps
// its children (a qualifier's NamespaceRef).
func TestCollectLeaves(t *testing.T) {
	leaves := map[CursorKind]int{}
	qualified := 0
	eachTop(t, nil, true, func(f string, cxx bool, top Cursor, b, aux *Buffer) {
		tr, err := top.CollectTree(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range tr.Nodes {
			k := n.Cursor.Kind()
			leaf := false
			switch k {
			case IntegerLiteral, FloatingLiteral, CharacterLiteral, StringLiteral, BreakStmt, ContinueStmt, NullStmt:
				leaf = true
			case DeclRefExpr:
				leaf = !cxx
				if cxx && tr.First[i] >= 0 {
					qualified++
				}
			}
			if !leaf {
				continue
			}
			leaves[k]++
			if tr.First[i] >= 0 {
				t.Errorf("%s: node %d (%s) has children in the tree", f, i, k.Spelling())
			}
			kids := n.Cursor.Children(aux)
			if len(kids) > 1 || len(kids) == 1 && kids[0].Kind() != k {
				t.Errorf("%s: node %d (%s %s): libclang gives %d children, the first %s", f, i, k.Spelling(), n.Cursor.Spelling(), len(kids), kids[0].Kind().Spelling())
			}
		}
	})
	for _, k := range []CursorKind{IntegerLiteral, StringLiteral, BreakStmt, ContinueStmt, NullStmt, DeclRefExpr} {
		if leaves[k] == 0 {
			t.Errorf("no %s in the inputs", k.Spelling())
		}
	}
	if qualified == 0 {
		t.Error("no C++ DeclRefExpr with children (a qualified name) in the inputs")
	}
}
