// bridge.h: the C side of package clang. Go never holds a CXCursor or
// CXType: libclang stores raw integers (source locations) in their pointer
// fields, which trip the cgo pointer check when they happen to fall inside
// the Go binary's data segment. fc_cur and fc_type mirror the layouts with
// integer fields; every libclang call goes through a wrapper here.
#ifndef KCFM_CLANG_BRIDGE_H
#define KCFM_CLANG_BRIDGE_H

#include <stdint.h>
#include <stddef.h>
#include <clang-c/Index.h>
#include <clang-c/CXCompilationDatabase.h>

typedef struct {
	int kind;
	int xdata;
	uintptr_t data[3];
} fc_cur;

typedef struct {
	int kind;
	uintptr_t data[2];
} fc_type;

// fc_loc is a decoded source location: file handle (CXFile as an integer),
// line, column and byte offset.
typedef struct {
	uintptr_t file;
	unsigned line, col, offset;
} fc_loc;

// fc_node is one cursor of a flattened subtree: the cursor and the index of
// its parent in the same array (-1 for the root), and facts computed in C
// while flattening so that the common queries need no cgo call (aux, see
// FC_AUX_*; 0 for the nodes it is not computed for).
typedef struct {
	fc_cur cur;
	int32_t parent;
	int32_t aux;
} fc_node;

// aux of DeclRefExpr and MemberRefExpr nodes: FC_AUX_REF | the kind of the
// referenced cursor (clang_getCursorReferenced; CXCursor_InvalidFile for a
// null one). aux of BinaryOperator nodes: FC_AUX_TYPE, with FC_AUX_FNPTR
// when the operator's type is a pointer to a function (fc_is_fnptr).
#define FC_AUX_KIND_MASK 0xffff
#define FC_AUX_REF (1 << 16)
#define FC_AUX_TYPE (1 << 17)
#define FC_AUX_FNPTR (1 << 18)

// fc_buf is a growable C array of nodes (owned by C, reused across calls).
// fc_collect also links the nodes into a tree, in arrays parallel to
// nodes: first child, next sibling (-1: none), end of the subtree
// (exclusive) and hot (the subtree holds a CallExpr, CXXThrowExpr,
// StmtExpr or CXXDeleteExpr: something the control-flow walk must see).
// fc_children, fc_toplevel and fc_overridden leave them unset.
typedef struct {
	fc_node *nodes;
	size_t n, cap;
	int32_t *stack;
	size_t sn, scap;
	int oom;
	int32_t *first, *next, *end, *last;
	uint8_t *hot;
	int c_lang; // set by the caller: the TU is C (fc_collect prunes more leaves)
} fc_buf;

fc_buf *fc_buf_new(void);
void fc_buf_free(fc_buf *b);

// fc_collect flattens the subtree of root (root included, pre-order) into b.
// Returns the number of nodes, or -1 when out of memory.
long fc_collect(fc_cur root, fc_buf *b);

// fc_children stores the direct children of c into b (parent = -1).
long fc_children(fc_cur c, fc_buf *b);

// fc_toplevel stores the declarations of the TU that are in the selected
// files, descending into namespaces and linkage specifications. mode 0:
// declarations whose expansion location is in the main file; mode 1: also
// declarations in non-system headers.
long fc_toplevel(CXTranslationUnit tu, int mode, fc_buf *b);

// Cursor wrappers.
fc_cur fc_tu_cursor(CXTranslationUnit tu);
fc_cur fc_referenced(fc_cur c);
fc_cur fc_definition(fc_cur c);
fc_cur fc_canonical(fc_cur c);
fc_cur fc_semantic_parent(fc_cur c);
fc_cur fc_lexical_parent(fc_cur c);
fc_cur fc_specialized_template(fc_cur c);
fc_cur fc_overloaded_decl(fc_cur c, unsigned i);
fc_cur fc_null(void);
unsigned fc_num_overloaded(fc_cur c);
int fc_is_null(fc_cur c);
unsigned fc_equal(fc_cur a, fc_cur b);
unsigned fc_hash(fc_cur c);
int fc_template_kind(fc_cur c);
CXString fc_spelling(fc_cur c);
CXString fc_display_name(fc_cur c);
CXString fc_usr(fc_cur c);
CXString fc_mangling(fc_cur c);
CXString fc_pretty(fc_cur c, int terse);
unsigned fc_is_definition(fc_cur c);
int fc_is_dynamic_call(fc_cur c);
int fc_storage_class(fc_cur c);
int fc_linkage(fc_cur c);
int fc_language(fc_cur c);
unsigned fc_has_attrs(fc_cur c);
unsigned fc_method_flags(fc_cur c);
int fc_evaluate_int(fc_cur c, long long *out);
long fc_overridden(fc_cur c, fc_buf *b);
fc_loc fc_location(fc_cur c, int spelling);
void fc_extent(fc_cur c, fc_loc *start, fc_loc *end);
// fc_extents3 fills out[0..5] with the start and end of a, b and c (file
// and offset only: line and column are 0).
void fc_extents3(fc_cur a, fc_cur b, fc_cur c, fc_loc *out);
int fc_loc_in_system_header(fc_cur c);
int fc_loc_in_main_file(fc_cur c);
int fc_is_variadic(fc_type t);
// fc_is_fnptr: the canonical type is a (block) pointer to a function type.
int fc_is_fnptr(fc_type t);
// fc_is_ptr_to_fnptr: the canonical type is a pointer to such a pointer.
int fc_is_ptr_to_fnptr(fc_type t);
fc_cur fc_var_init(fc_cur c);
int fc_num_args(fc_cur c);
fc_cur fc_arg(fc_cur c, unsigned i);
int fc_type_num_args(fc_type t);
fc_type fc_type_arg(fc_type t, unsigned i);
long long fc_type_size(fc_type t);
fc_type fc_type_elem(fc_type t);

// Type wrappers.
fc_type fc_cursor_type(fc_cur c);
fc_type fc_result_type(fc_cur c);
fc_type fc_canonical_type(fc_type t);
fc_type fc_pointee_type(fc_type t);
fc_type fc_type_result(fc_type t);
fc_type fc_type_class(fc_type t);
fc_type fc_type_nonref(fc_type t);
fc_cur fc_type_declaration(fc_type t);
CXString fc_type_spelling(fc_type t);

// Tokens: the spellings of the tokens of the range [start, end) of the
// file of cursor positions, joined with '\n' (no token contains one), in
// a malloc'd buffer the caller frees; NULL when out of memory.
char *fc_tokens_between(CXTranslationUnit tu, fc_cur from, int from_end, fc_cur to, int to_end);

// Files.
CXString fc_file_name(uintptr_t file);
const char *fc_file_contents(CXTranslationUnit tu, uintptr_t file, size_t *size);
uintptr_t fc_main_file(CXTranslationUnit tu);

#endif
