#include <stdlib.h>
#include <string.h>
#include "bridge.h"

_Static_assert(sizeof(fc_cur) == sizeof(CXCursor), "fc_cur must mirror CXCursor");
_Static_assert(sizeof(fc_type) == sizeof(CXType), "fc_type must mirror CXType");

static CXCursor to_cx(fc_cur c) { CXCursor x; memcpy(&x, &c, sizeof x); return x; }
static fc_cur from_cx(CXCursor x) { fc_cur c; memcpy(&c, &x, sizeof c); return c; }
static CXType to_cxt(fc_type t) { CXType x; memcpy(&x, &t, sizeof x); return x; }
static fc_type from_cxt(CXType x) { fc_type t; memcpy(&t, &x, sizeof t); return t; }

fc_buf *fc_buf_new(void) { return calloc(1, sizeof(fc_buf)); }

void fc_buf_free(fc_buf *b) {
	if (!b) return;
	free(b->nodes);
	free(b->stack);
	free(b->first);
	free(b->next);
	free(b->end);
	free(b->last);
	free(b->hot);
	free(b);
}

static int grow(void **p, size_t n, size_t size) {
	void *q = realloc(*p, n * size);
	if (!q) return 0;
	*p = q;
	return 1;
}

static int is_fnptr(CXType t) {
	t = clang_getCanonicalType(t);
	if (t.kind != CXType_Pointer && t.kind != CXType_BlockPointer) return 0;
	CXType p = clang_getCanonicalType(clang_getPointeeType(t));
	return p.kind == CXType_FunctionProto || p.kind == CXType_FunctionNoProto;
}

int fc_is_fnptr(fc_type t) { return is_fnptr(to_cxt(t)); }

int fc_is_ptr_to_fnptr(fc_type t) {
	CXType x = clang_getCanonicalType(to_cxt(t));
	if (x.kind != CXType_Pointer) return 0;
	return is_fnptr(clang_getPointeeType(x));
}

// aux_of computes fc_node.aux (see bridge.h).
static int32_t aux_of(const CXCursor *c) {
	switch (c->kind) {
	case CXCursor_DeclRefExpr:
	case CXCursor_MemberRefExpr:
		return FC_AUX_REF | (clang_getCursorReferenced(*c).kind & FC_AUX_KIND_MASK);
	case CXCursor_BinaryOperator:
		return FC_AUX_TYPE | (is_fnptr(clang_getCursorType(*c)) ? FC_AUX_FNPTR : 0);
	default:
		return 0;
	}
}

// push_node appends a node. The cursor is passed by address: copied by
// value through the visitor's frame it was written in 16-byte halves and
// read back at another offset, which defeats store-to-load forwarding (a
// stall per node, 6 ms of the 200k-line corpus' analysis).
static int push_node(fc_buf *b, const CXCursor *c, int32_t parent) {
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		if (!grow((void **)&b->nodes, nc, sizeof *b->nodes) || !grow((void **)&b->first, nc, sizeof(int32_t)) ||
		    !grow((void **)&b->next, nc, sizeof(int32_t)) || !grow((void **)&b->end, nc, sizeof(int32_t)) ||
		    !grow((void **)&b->last, nc, sizeof(int32_t)) || !grow((void **)&b->hot, nc, 1)) {
			b->oom = 1;
			return 0;
		}
		b->cap = nc;
	}
	fc_node *n = &b->nodes[b->n++];
	memcpy(&n->cur, c, sizeof n->cur);
	n->parent = parent;
	n->aux = 0;
	return 1;
}

static int push_stack(fc_buf *b, int32_t i) {
	if (b->sn == b->scap) {
		size_t nc = b->scap ? b->scap * 2 : 256;
		int32_t *ns = realloc(b->stack, nc * sizeof *ns);
		if (!ns) { b->oom = 1; return 0; }
		b->stack = ns;
		b->scap = nc;
	}
	b->stack[b->sn++] = i;
	return 1;
}

static int is_hot_kind(enum CXCursorKind k) {
	return k == CXCursor_CallExpr || k == CXCursor_CXXThrowExpr || k == CXCursor_StmtExpr || k == CXCursor_CXXDeleteExpr;
}

// tree_push links node i (just pushed, parent p) into the tree arrays.
static void tree_push(fc_buf *b, int32_t i, int32_t p, enum CXCursorKind k) {
	b->first[i] = -1;
	b->next[i] = -1;
	b->last[i] = -1;
	b->end[i] = i + 1;
	b->hot[i] = (uint8_t)is_hot_kind(k);
	if (p >= 0) {
		if (b->last[p] < 0)
			b->first[p] = i;
		else
			b->next[b->last[p]] = i;
		b->last[p] = i;
	}
}

// tree_pop closes the subtree on top of the stack: all of it has been
// pushed (pre-order), and its hot bit goes to its parent.
static void tree_pop(fc_buf *b) {
	int32_t x = b->stack[--b->sn];
	b->end[x] = (int32_t)b->n;
	int32_t p = b->nodes[x].parent;
	if (p >= 0 && b->hot[x]) b->hot[p] = 1;
}

// is_leaf: kinds whose children the walk never needs, so libclang is not
// asked for them (each costs it a work-list round even when it has none).
// A ConstantExpr (a case label, an array size) is shown with the kind of
// what it wraps and has that node again as its only child: an
// IntegerLiteral "parent" of the same IntegerLiteral. In C a DeclRefExpr
// has no children; in C++ its qualifier and template arguments are
// children (NamespaceRef, TypeRef, TemplateRef), so it is walked there.
static int is_leaf(enum CXCursorKind k, int c_lang) {
	switch (k) {
	case CXCursor_IntegerLiteral:
	case CXCursor_FloatingLiteral:
	case CXCursor_CharacterLiteral:
	case CXCursor_StringLiteral:
	case CXCursor_BreakStmt:
	case CXCursor_ContinueStmt:
	case CXCursor_NullStmt:
		return 1;
	case CXCursor_DeclRefExpr:
		return c_lang;
	default:
		return 0;
	}
}

static enum CXChildVisitResult collect_visit(CXCursor c, CXCursor parent, CXClientData d) {
	fc_buf *b = d;
	// Pop until the top of the stack is the parent: the visitor walks in
	// pre-order, so the parent is always on the stack.
	while (b->sn > 1) {
		fc_cur *top = &b->nodes[b->stack[b->sn - 1]].cur;
		// Cursors of different kinds are never equal; equal bits are
		// equal cursors; otherwise ask libclang (it normalises flags).
		if (top->kind == (int)parent.kind &&
		    (memcmp(top, &parent, sizeof *top) == 0 || clang_equalCursors(to_cx(*top), parent)))
			break;
		tree_pop(b);
	}
	int32_t p = b->stack[b->sn - 1];
	int32_t self = (int32_t)b->n;
	if (!push_node(b, &c, p) || !push_stack(b, self)) return CXChildVisit_Break;
	b->nodes[self].aux = aux_of(&c);
	tree_push(b, self, p, c.kind);
	return is_leaf(c.kind, b->c_lang) ? CXChildVisit_Continue : CXChildVisit_Recurse;
}

long fc_collect(fc_cur root, fc_buf *b) {
	b->n = 0;
	b->sn = 0;
	b->oom = 0;
	CXCursor r = to_cx(root);
	if (!push_node(b, &r, -1) || !push_stack(b, 0)) return -1;
	b->nodes[0].aux = aux_of(&r);
	tree_push(b, 0, -1, r.kind);
	clang_visitChildren(r, collect_visit, b);
	if (b->oom) return -1;
	while (b->sn > 0) tree_pop(b);
	return (long)b->n;
}

static enum CXChildVisitResult children_visit(CXCursor c, CXCursor parent, CXClientData d) {
	fc_buf *b = d;
	(void)parent;
	if (!push_node(b, &c, -1)) return CXChildVisit_Break;
	return CXChildVisit_Continue;
}

long fc_children(fc_cur c, fc_buf *b) {
	b->n = 0;
	b->oom = 0;
	clang_visitChildren(to_cx(c), children_visit, b);
	return b->oom ? -1 : (long)b->n;
}

typedef struct {
	fc_buf *b;
	CXFile main;
	int mode;
} top_ctx;

static int wanted(top_ctx *t, CXCursor c) {
	CXSourceLocation loc = clang_getCursorLocation(c);
	CXFile f = NULL;
	clang_getExpansionLocation(loc, &f, NULL, NULL, NULL);
	if (!f) return 0;
	if (clang_File_isEqual(f, t->main)) return 1;
	if (t->mode == 1 && !clang_Location_isInSystemHeader(loc)) return 1;
	return 0;
}

static enum CXChildVisitResult top_visit(CXCursor c, CXCursor parent, CXClientData d) {
	top_ctx *t = d;
	(void)parent;
	switch (clang_getCursorKind(c)) {
	case CXCursor_Namespace:
	case CXCursor_LinkageSpec:
	case CXCursor_UnexposedDecl:
		clang_visitChildren(c, top_visit, d);
		return t->b->oom ? CXChildVisit_Break : CXChildVisit_Continue;
	default:
		break;
	}
	if (wanted(t, c) && !push_node(t->b, &c, -1)) return CXChildVisit_Break;
	return CXChildVisit_Continue;
}

uintptr_t fc_main_file(CXTranslationUnit tu) {
	CXString s = clang_getTranslationUnitSpelling(tu);
	CXFile f = clang_getFile(tu, clang_getCString(s));
	clang_disposeString(s);
	return (uintptr_t)f;
}

long fc_toplevel(CXTranslationUnit tu, int mode, fc_buf *b) {
	top_ctx t = {b, (CXFile)fc_main_file(tu), mode};
	b->n = 0;
	b->oom = 0;
	clang_visitChildren(clang_getTranslationUnitCursor(tu), top_visit, &t);
	return b->oom ? -1 : (long)b->n;
}

fc_cur fc_tu_cursor(CXTranslationUnit tu) { return from_cx(clang_getTranslationUnitCursor(tu)); }
fc_cur fc_referenced(fc_cur c) { return from_cx(clang_getCursorReferenced(to_cx(c))); }
fc_cur fc_definition(fc_cur c) { return from_cx(clang_getCursorDefinition(to_cx(c))); }
fc_cur fc_canonical(fc_cur c) { return from_cx(clang_getCanonicalCursor(to_cx(c))); }
fc_cur fc_semantic_parent(fc_cur c) { return from_cx(clang_getCursorSemanticParent(to_cx(c))); }
fc_cur fc_lexical_parent(fc_cur c) { return from_cx(clang_getCursorLexicalParent(to_cx(c))); }
fc_cur fc_specialized_template(fc_cur c) { return from_cx(clang_getSpecializedCursorTemplate(to_cx(c))); }
fc_cur fc_overloaded_decl(fc_cur c, unsigned i) { return from_cx(clang_getOverloadedDecl(to_cx(c), i)); }
fc_cur fc_null(void) { return from_cx(clang_getNullCursor()); }
unsigned fc_num_overloaded(fc_cur c) { return clang_getNumOverloadedDecls(to_cx(c)); }
int fc_is_null(fc_cur c) { return clang_Cursor_isNull(to_cx(c)); }
unsigned fc_equal(fc_cur a, fc_cur b) { return clang_equalCursors(to_cx(a), to_cx(b)); }
unsigned fc_hash(fc_cur c) { return clang_hashCursor(to_cx(c)); }
int fc_template_kind(fc_cur c) { return clang_getTemplateCursorKind(to_cx(c)); }
CXString fc_spelling(fc_cur c) { return clang_getCursorSpelling(to_cx(c)); }
CXString fc_display_name(fc_cur c) { return clang_getCursorDisplayName(to_cx(c)); }
CXString fc_usr(fc_cur c) { return clang_getCursorUSR(to_cx(c)); }
CXString fc_mangling(fc_cur c) { return clang_Cursor_getMangling(to_cx(c)); }
unsigned fc_is_definition(fc_cur c) { return clang_isCursorDefinition(to_cx(c)); }
int fc_is_dynamic_call(fc_cur c) { return clang_Cursor_isDynamicCall(to_cx(c)); }
int fc_storage_class(fc_cur c) { return clang_Cursor_getStorageClass(to_cx(c)); }
int fc_linkage(fc_cur c) { return clang_getCursorLinkage(to_cx(c)); }
int fc_language(fc_cur c) { return clang_getCursorLanguage(to_cx(c)); }
unsigned fc_has_attrs(fc_cur c) { return clang_Cursor_hasAttrs(to_cx(c)); }

CXString fc_pretty(fc_cur c, int terse) {
	CXCursor x = to_cx(c);
	CXPrintingPolicy p = clang_getCursorPrintingPolicy(x);
	if (terse) clang_PrintingPolicy_setProperty(p, CXPrintingPolicy_TerseOutput, 1);
	CXString s = clang_getCursorPrettyPrinted(x, p);
	clang_PrintingPolicy_dispose(p);
	return s;
}

// Bit 0 virtual, 1 pure, 2 static, 3 const, 4 defaulted.
unsigned fc_method_flags(fc_cur c) {
	CXCursor x = to_cx(c);
	unsigned f = 0;
	if (clang_CXXMethod_isVirtual(x)) f |= 1;
	if (clang_CXXMethod_isPureVirtual(x)) f |= 2;
	if (clang_CXXMethod_isStatic(x)) f |= 4;
	if (clang_CXXMethod_isConst(x)) f |= 8;
	if (clang_CXXMethod_isDefaulted(x)) f |= 16;
	return f;
}

int fc_evaluate_int(fc_cur c, long long *out) {
	CXEvalResult r = clang_Cursor_Evaluate(to_cx(c));
	if (!r) return 0;
	int ok = 0;
	if (clang_EvalResult_getKind(r) == CXEval_Int) {
		*out = clang_EvalResult_getAsLongLong(r);
		ok = 1;
	}
	clang_EvalResult_dispose(r);
	return ok;
}

long fc_overridden(fc_cur c, fc_buf *b) {
	CXCursor *ov = NULL;
	unsigned n = 0;
	b->n = 0;
	b->oom = 0;
	clang_getOverriddenCursors(to_cx(c), &ov, &n);
	for (unsigned i = 0; i < n; i++)
		if (!push_node(b, &ov[i], -1)) break;
	if (ov) clang_disposeOverriddenCursors(ov);
	return b->oom ? -1 : (long)b->n;
}

static fc_loc decode(CXSourceLocation l, int spelling) {
	fc_loc r;
	CXFile f = NULL;
	if (spelling)
		clang_getSpellingLocation(l, &f, &r.line, &r.col, &r.offset);
	else
		clang_getExpansionLocation(l, &f, &r.line, &r.col, &r.offset);
	r.file = (uintptr_t)f;
	return r;
}

fc_loc fc_location(fc_cur c, int spelling) { return decode(clang_getCursorLocation(to_cx(c)), spelling); }

void fc_extent(fc_cur c, fc_loc *start, fc_loc *end) {
	CXSourceRange r = clang_getCursorExtent(to_cx(c));
	*start = decode(clang_getRangeStart(r), 0);
	*end = decode(clang_getRangeEnd(r), 0);
}

// decode_offset is decode without line and column (libclang computes
// them only when asked: a line-table lookup and a scan back to the start
// of the line).
static fc_loc decode_offset(CXSourceLocation l) {
	fc_loc r = {0, 0, 0, 0};
	CXFile f = NULL;
	clang_getExpansionLocation(l, &f, NULL, NULL, &r.offset);
	r.file = (uintptr_t)f;
	return r;
}

void fc_extents3(fc_cur a, fc_cur b, fc_cur c, fc_loc *out) {
	fc_cur in[3] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		CXSourceRange r = clang_getCursorExtent(to_cx(in[i]));
		out[2 * i] = decode_offset(clang_getRangeStart(r));
		out[2 * i + 1] = decode_offset(clang_getRangeEnd(r));
	}
}

int fc_loc_in_system_header(fc_cur c) { return clang_Location_isInSystemHeader(clang_getCursorLocation(to_cx(c))); }
int fc_loc_in_main_file(fc_cur c) { return clang_Location_isFromMainFile(clang_getCursorLocation(to_cx(c))); }

fc_type fc_cursor_type(fc_cur c) { return from_cxt(clang_getCursorType(to_cx(c))); }
fc_type fc_result_type(fc_cur c) { return from_cxt(clang_getCursorResultType(to_cx(c))); }
fc_type fc_canonical_type(fc_type t) { return from_cxt(clang_getCanonicalType(to_cxt(t))); }
fc_type fc_pointee_type(fc_type t) { return from_cxt(clang_getPointeeType(to_cxt(t))); }
fc_type fc_type_result(fc_type t) { return from_cxt(clang_getResultType(to_cxt(t))); }
fc_type fc_type_class(fc_type t) { return from_cxt(clang_Type_getClassType(to_cxt(t))); }
fc_type fc_type_nonref(fc_type t) {
	CXType x = to_cxt(t);
	if (x.kind == CXType_LValueReference || x.kind == CXType_RValueReference)
		return from_cxt(clang_getPointeeType(x));
	return t;
}
fc_cur fc_type_declaration(fc_type t) { return from_cx(clang_getTypeDeclaration(to_cxt(t))); }
CXString fc_type_spelling(fc_type t) { return clang_getTypeSpelling(to_cxt(t)); }
int fc_is_variadic(fc_type t) { return clang_isFunctionTypeVariadic(to_cxt(t)); }

char *fc_tokens_between(CXTranslationUnit tu, fc_cur from, int from_end, fc_cur to, int to_end) {
	CXSourceRange ra = clang_getCursorExtent(to_cx(from));
	CXSourceRange rb = clang_getCursorExtent(to_cx(to));
	CXSourceLocation a = from_end ? clang_getRangeEnd(ra) : clang_getRangeStart(ra);
	CXSourceLocation b = to_end ? clang_getRangeEnd(rb) : clang_getRangeStart(rb);
	CXToken *toks = NULL;
	unsigned n = 0;
	clang_tokenize(tu, clang_getRange(a, b), &toks, &n);
	size_t cap = 64, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		if (toks) clang_disposeTokens(tu, toks, n);
		return NULL;
	}
	buf[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		CXString s = clang_getTokenSpelling(tu, toks[i]);
		const char *p = clang_getCString(s);
		size_t l = p ? strlen(p) : 0;
		if (len + l + 2 > cap) {
			while (len + l + 2 > cap) cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb) { clang_disposeString(s); break; }
			buf = nb;
		}
		if (i) buf[len++] = '\n';
		if (l) memcpy(buf + len, p, l);
		len += l;
		buf[len] = 0;
		clang_disposeString(s);
	}
	if (toks) clang_disposeTokens(tu, toks, n);
	return buf;
}

CXString fc_file_name(uintptr_t file) { return clang_getFileName((CXFile)file); }

const char *fc_file_contents(CXTranslationUnit tu, uintptr_t file, size_t *size) {
	return clang_getFileContents(tu, (CXFile)file, size);
}

fc_cur fc_var_init(fc_cur c) { return from_cx(clang_Cursor_getVarDeclInitializer(to_cx(c))); }
int fc_num_args(fc_cur c) { return clang_Cursor_getNumArguments(to_cx(c)); }
fc_cur fc_arg(fc_cur c, unsigned i) { return from_cx(clang_Cursor_getArgument(to_cx(c), i)); }
int fc_type_num_args(fc_type t) { return clang_getNumArgTypes(to_cxt(t)); }
fc_type fc_type_arg(fc_type t, unsigned i) { return from_cxt(clang_getArgType(to_cxt(t), i)); }
long long fc_type_size(fc_type t) { return clang_Type_getSizeOf(to_cxt(t)); }
fc_type fc_type_elem(fc_type t) { return from_cxt(clang_getArrayElementType(to_cxt(t))); }
