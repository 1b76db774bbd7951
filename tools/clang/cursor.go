package clang

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import "unsafe"

// Node must have fc_node's layout (CollectView reinterprets C memory).
var _ [unsafe.Sizeof(Node{}) - unsafe.Sizeof(C.fc_node{})]struct{}
var _ [unsafe.Sizeof(C.fc_node{}) - unsafe.Sizeof(Node{})]struct{}
var _ [unsafe.Offsetof(Node{}.Parent) - unsafe.Offsetof(C.fc_node{}.parent)]struct{}
var _ [unsafe.Offsetof(C.fc_node{}.parent) - unsafe.Offsetof(Node{}.Parent)]struct{}
var _ [unsafe.Offsetof(Node{}.aux) - unsafe.Offsetof(C.fc_node{}.aux)]struct{}
var _ [unsafe.Offsetof(C.fc_node{}.aux) - unsafe.Offsetof(Node{}.aux)]struct{}

// Cursor is a libclang cursor (a copy of its mirror struct; comparable with
// == only through Equal).
type Cursor struct {
	c C.fc_cur
}

// CursorKind is a CXCursorKind.
type CursorKind int

// Cursor kinds used by the analysis (values of enum CXCursorKind).
const (
	UnexposedDecl                      CursorKind = C.CXCursor_UnexposedDecl
	StructDecl                         CursorKind = C.CXCursor_StructDecl
	UnionDecl                          CursorKind = C.CXCursor_UnionDecl
	ClassDecl                          CursorKind = C.CXCursor_ClassDecl
	EnumDecl                           CursorKind = C.CXCursor_EnumDecl
	FieldDecl                          CursorKind = C.CXCursor_FieldDecl
	FunctionDecl                       CursorKind = C.CXCursor_FunctionDecl
	VarDecl                            CursorKind = C.CXCursor_VarDecl
	ParmDecl                           CursorKind = C.CXCursor_ParmDecl
	TypedefDecl                        CursorKind = C.CXCursor_TypedefDecl
	CXXMethod                          CursorKind = C.CXCursor_CXXMethod
	Namespace                          CursorKind = C.CXCursor_Namespace
	LinkageSpec                        CursorKind = C.CXCursor_LinkageSpec
	Constructor                        CursorKind = C.CXCursor_Constructor
	Destructor                         CursorKind = C.CXCursor_Destructor
	ConversionFunction                 CursorKind = C.CXCursor_ConversionFunction
	FunctionTemplate                   CursorKind = C.CXCursor_FunctionTemplate
	ClassTemplate                      CursorKind = C.CXCursor_ClassTemplate
	ClassTemplatePartialSpecialization CursorKind = C.CXCursor_ClassTemplatePartialSpecialization
	CXXBaseSpecifier                   CursorKind = C.CXCursor_CXXBaseSpecifier
	TypeRef                            CursorKind = C.CXCursor_TypeRef
	TemplateRef                        CursorKind = C.CXCursor_TemplateRef
	MemberRef                          CursorKind = C.CXCursor_MemberRef
	LabelRef                           CursorKind = C.CXCursor_LabelRef
	OverloadedDeclRef                  CursorKind = C.CXCursor_OverloadedDeclRef
	VariableRef                        CursorKind = C.CXCursor_VariableRef

	UnexposedExpr          CursorKind = C.CXCursor_UnexposedExpr
	DeclRefExpr            CursorKind = C.CXCursor_DeclRefExpr
	MemberRefExpr          CursorKind = C.CXCursor_MemberRefExpr
	CallExpr               CursorKind = C.CXCursor_CallExpr
	BlockExpr              CursorKind = C.CXCursor_BlockExpr
	IntegerLiteral         CursorKind = C.CXCursor_IntegerLiteral
	FloatingLiteral        CursorKind = C.CXCursor_FloatingLiteral
	StringLiteral          CursorKind = C.CXCursor_StringLiteral
	CharacterLiteral       CursorKind = C.CXCursor_CharacterLiteral
	ParenExpr              CursorKind = C.CXCursor_ParenExpr
	UnaryOperator          CursorKind = C.CXCursor_UnaryOperator
	ArraySubscriptExpr     CursorKind = C.CXCursor_ArraySubscriptExpr
	BinaryOperator         CursorKind = C.CXCursor_BinaryOperator
	CompoundAssignOperator CursorKind = C.CXCursor_CompoundAssignOperator
	ConditionalOperator    CursorKind = C.CXCursor_ConditionalOperator
	CStyleCastExpr         CursorKind = C.CXCursor_CStyleCastExpr
	CompoundLiteralExpr    CursorKind = C.CXCursor_CompoundLiteralExpr
	InitListExpr           CursorKind = C.CXCursor_InitListExpr
	AddrLabelExpr          CursorKind = C.CXCursor_AddrLabelExpr
	StmtExpr               CursorKind = C.CXCursor_StmtExpr
	GenericSelectionExpr   CursorKind = C.CXCursor_GenericSelectionExpr
	CXXStaticCastExpr      CursorKind = C.CXCursor_CXXStaticCastExpr
	CXXDynamicCastExpr     CursorKind = C.CXCursor_CXXDynamicCastExpr
	CXXReinterpretCastExpr CursorKind = C.CXCursor_CXXReinterpretCastExpr
	CXXConstCastExpr       CursorKind = C.CXCursor_CXXConstCastExpr
	CXXFunctionalCastExpr  CursorKind = C.CXCursor_CXXFunctionalCastExpr
	CXXTypeidExpr          CursorKind = C.CXCursor_CXXTypeidExpr
	CXXThisExpr            CursorKind = C.CXCursor_CXXThisExpr
	CXXThrowExpr           CursorKind = C.CXCursor_CXXThrowExpr
	CXXNewExpr             CursorKind = C.CXCursor_CXXNewExpr
	CXXDeleteExpr          CursorKind = C.CXCursor_CXXDeleteExpr
	UnaryExpr              CursorKind = C.CXCursor_UnaryExpr
	PackExpansionExpr      CursorKind = C.CXCursor_PackExpansionExpr
	LambdaExpr             CursorKind = C.CXCursor_LambdaExpr
	FirstExpr              CursorKind = C.CXCursor_FirstExpr
	LastExpr               CursorKind = C.CXCursor_LastExpr

	UnexposedStmt     CursorKind = C.CXCursor_UnexposedStmt
	LabelStmt         CursorKind = C.CXCursor_LabelStmt
	CompoundStmt      CursorKind = C.CXCursor_CompoundStmt
	CaseStmt          CursorKind = C.CXCursor_CaseStmt
	DefaultStmt       CursorKind = C.CXCursor_DefaultStmt
	IfStmt            CursorKind = C.CXCursor_IfStmt
	SwitchStmt        CursorKind = C.CXCursor_SwitchStmt
	WhileStmt         CursorKind = C.CXCursor_WhileStmt
	DoStmt            CursorKind = C.CXCursor_DoStmt
	ForStmt           CursorKind = C.CXCursor_ForStmt
	GotoStmt          CursorKind = C.CXCursor_GotoStmt
	IndirectGotoStmt  CursorKind = C.CXCursor_IndirectGotoStmt
	ContinueStmt      CursorKind = C.CXCursor_ContinueStmt
	BreakStmt         CursorKind = C.CXCursor_BreakStmt
	ReturnStmt        CursorKind = C.CXCursor_ReturnStmt
	GCCAsmStmt        CursorKind = C.CXCursor_GCCAsmStmt
	CXXCatchStmt      CursorKind = C.CXCursor_CXXCatchStmt
	CXXTryStmt        CursorKind = C.CXCursor_CXXTryStmt
	CXXForRangeStmt   CursorKind = C.CXCursor_CXXForRangeStmt
	SEHTryStmt        CursorKind = C.CXCursor_SEHTryStmt
	NullStmt          CursorKind = C.CXCursor_NullStmt
	DeclStmt          CursorKind = C.CXCursor_DeclStmt
	FirstStmt         CursorKind = C.CXCursor_FirstStmt
	LastStmt          CursorKind = C.CXCursor_LastStmt
	TranslationUnit   CursorKind = C.CXCursor_TranslationUnit
	UnexposedAttr     CursorKind = C.CXCursor_UnexposedAttr
	FirstAttr         CursorKind = C.CXCursor_FirstAttr
	LastAttr          CursorKind = C.CXCursor_LastAttr
	StaticAssert      CursorKind = C.CXCursor_StaticAssert
	InvalidFile       CursorKind = C.CXCursor_InvalidFile
	NoDeclFound       CursorKind = C.CXCursor_NoDeclFound
	MacroExpansion    CursorKind = C.CXCursor_MacroExpansion
	CXXAccessSpecifer CursorKind = C.CXCursor_CXXAccessSpecifier
)

// Spelling returns the libclang name of the kind.
func (k CursorKind) Spelling() string {
	return str(C.clang_getCursorKindSpelling(C.enum_CXCursorKind(k)))
}

// IsExpr reports whether the kind is an expression.
func (k CursorKind) IsExpr() bool { return k >= FirstExpr && k <= LastExpr }

// IsStmt reports whether the kind is a statement (not an expression).
func (k CursorKind) IsStmt() bool { return k >= FirstStmt && k <= LastStmt }

// IsDecl reports whether the kind is a declaration: clang_isDeclaration
// of libclang-15 (the ranges FirstDecl..LastDecl and
// FirstExtraDecl..LastExtraDecl), without a cgo call.
func (k CursorKind) IsDecl() bool {
	return k >= C.CXCursor_FirstDecl && k <= C.CXCursor_LastDecl ||
		k >= C.CXCursor_FirstExtraDecl && k <= C.CXCursor_LastExtraDecl
}

// isDeclC is clang_isDeclaration itself (tests check IsDecl against it).
func (k CursorKind) isDeclC() bool { return C.clang_isDeclaration(C.enum_CXCursorKind(k)) != 0 }

// IsAttr reports whether the kind is an attribute.
func (k CursorKind) IsAttr() bool { return k >= FirstAttr && k <= LastAttr }

// NullCursor is the null cursor.
func NullCursor() Cursor { return Cursor{C.fc_null()} }

// Kind of the cursor.
func (c Cursor) Kind() CursorKind { return CursorKind(c.c.kind) }

// Key identifies the entity a declaration or statement cursor stands for
// (its AST node pointer); equal keys within one TU mean the same node.
func (c Cursor) Key() uintptr {
	if c.Kind().IsDecl() || c.Kind() == TranslationUnit {
		return uintptr(c.c.data[0])
	}
	return uintptr(c.c.data[1])
}

// IsNull reports whether c is the null cursor. Like clang_Cursor_isNull
// (clang_equalCursors with clang_getNullCursor(): kind InvalidFile, data
// all zero; xdata is not compared), without a cgo call.
func (c Cursor) IsNull() bool {
	return c.c.kind == C.CXCursor_InvalidFile && c.c.data[0] == 0 && c.c.data[1] == 0 && c.c.data[2] == 0
}

// isNullC is clang_Cursor_isNull itself (tests check IsNull against it).
func (c Cursor) isNullC() bool { return C.fc_is_null(c.c) != 0 }

func (c Cursor) Equal(o Cursor) bool { return C.fc_equal(c.c, o.c) != 0 }
func (c Cursor) Hash() uint32        { return uint32(C.fc_hash(c.c)) }
func (c Cursor) Spelling() string    { return str(C.fc_spelling(c.c)) }
func (c Cursor) DisplayName() string { return str(C.fc_display_name(c.c)) }
func (c Cursor) USR() string         { return str(C.fc_usr(c.c)) }

// Mangling is the linkage name (C name or mangled C++ name).
func (c Cursor) Mangling() string { return str(C.fc_mangling(c.c)) }

// PrettyPrinted prints a declaration or statement; terse omits bodies.
func (c Cursor) PrettyPrinted(terse bool) string { return str(C.fc_pretty(c.c, cbool(terse))) }

func (c Cursor) Referenced() Cursor          { return Cursor{C.fc_referenced(c.c)} }
func (c Cursor) Definition() Cursor          { return Cursor{C.fc_definition(c.c)} }
func (c Cursor) Canonical() Cursor           { return Cursor{C.fc_canonical(c.c)} }
func (c Cursor) SemanticParent() Cursor      { return Cursor{C.fc_semantic_parent(c.c)} }
func (c Cursor) LexicalParent() Cursor       { return Cursor{C.fc_lexical_parent(c.c)} }
func (c Cursor) SpecializedTemplate() Cursor { return Cursor{C.fc_specialized_template(c.c)} }

// TemplateKind is the kind of declaration a template would produce
// (FunctionDecl for a function template); InvalidFile-like zero otherwise.
func (c Cursor) TemplateKind() CursorKind { return CursorKind(C.fc_template_kind(c.c)) }

// Overloaded returns the candidate declarations of an OverloadedDeclRef.
func (c Cursor) Overloaded() []Cursor {
	n := int(C.fc_num_overloaded(c.c))
	out := make([]Cursor, n)
	for i := range out {
		out[i] = Cursor{C.fc_overloaded_decl(c.c, C.unsigned(i))}
	}
	return out
}

func (c Cursor) IsDefinition() bool  { return C.fc_is_definition(c.c) != 0 }
func (c Cursor) IsDynamicCall() bool { return C.fc_is_dynamic_call(c.c) != 0 }
func (c Cursor) HasAttrs() bool      { return C.fc_has_attrs(c.c) != 0 }

// StorageClass values (CX_StorageClass).
const (
	StorageNone   = C.CX_SC_None
	StorageExtern = C.CX_SC_Extern
	StorageStatic = C.CX_SC_Static
)

// StorageClass is the declared storage class (CX_SC_*).
func (c Cursor) StorageClass() int { return int(C.fc_storage_class(c.c)) }

// Linkage kinds (CXLinkageKind).
const (
	LinkageNoLinkage = C.CXLinkage_NoLinkage
	LinkageInternal  = C.CXLinkage_Internal
	LinkageExternal  = C.CXLinkage_External
)

// Linkage is the CXLinkageKind of a declaration.
func (c Cursor) Linkage() int { return int(C.fc_linkage(c.c)) }

// Languages (CXLanguageKind).
const (
	LanguageC    = C.CXLanguage_C
	LanguageObjC = C.CXLanguage_ObjC
	LanguageCXX  = C.CXLanguage_CPlusPlus
)

// Language of a declaration.
func (c Cursor) Language() int { return int(C.fc_language(c.c)) }

// MethodFlags of a C++ method.
type MethodFlags uint

const (
	MethodVirtual MethodFlags = 1 << iota
	MethodPure
	MethodStatic
	MethodConst
	MethodDefaulted
)

// MethodFlags returns the C++ method properties.
func (c Cursor) MethodFlags() MethodFlags { return MethodFlags(C.fc_method_flags(c.c)) }

// EvaluateInt evaluates a constant integer expression.
func (c Cursor) EvaluateInt() (int64, bool) {
	var v C.longlong
	if C.fc_evaluate_int(c.c, &v) == 0 {
		return 0, false
	}
	return int64(v), true
}

// Overridden returns the methods a C++ method directly overrides.
func (c Cursor) Overridden(b *Buffer) []Cursor {
	n := C.fc_overridden(c.c, b.b)
	if n <= 0 {
		return nil
	}
	ns, _ := b.nodes(nil, n)
	out := make([]Cursor, len(ns))
	for i, x := range ns {
		out[i] = x.Cursor
	}
	return out
}

// Loc is a decoded source location. File is an opaque handle (see
// TU.FileName); zero when the location has no file.
type Loc struct {
	File            uintptr
	Line, Col, Offs uint32
}

func mkloc(l C.fc_loc) Loc {
	return Loc{File: uintptr(l.file), Line: uint32(l.line), Col: uint32(l.col), Offs: uint32(l.offset)}
}

// Location is the expansion location of the cursor (for a macro, where it
// is used).
func (c Cursor) Location() Loc { return mkloc(C.fc_location(c.c, 0)) }

// FileLocation is libclang's "spelling" location: for tokens from macro
// arguments the place the argument was written; for tokens of a macro body
// (libclang-15 returns the file location) the place the macro was used.
func (c Cursor) FileLocation() Loc { return mkloc(C.fc_location(c.c, 1)) }

// Extent is the (expansion) source range of the cursor.
func (c Cursor) Extent() (Loc, Loc) {
	var s, e C.fc_loc
	C.fc_extent(c.c, &s, &e)
	return mkloc(s), mkloc(e)
}

// Extents3 returns the extents of three cursors in one call: start and
// end of a, b and c, as file and offset (Line and Col are 0).
func Extents3(a, b, c Cursor) [6]Loc {
	var l [6]C.fc_loc
	C.fc_extents3(a.c, b.c, c.c, &l[0])
	var out [6]Loc
	for i := range l {
		out[i] = mkloc(l[i])
	}
	return out
}

// InSystemHeader reports whether the cursor's location is in a system header.
func (c Cursor) InSystemHeader() bool { return C.fc_loc_in_system_header(c.c) != 0 }

// Type of the cursor (for declarations and expressions).
func (c Cursor) Type() Type { return Type{C.fc_cursor_type(c.c)} }

// ResultType of a function declaration.
func (c Cursor) ResultType() Type { return Type{C.fc_result_type(c.c)} }

// TypeKey identifies a type within a TU.
type TypeKey struct {
	p    uintptr
	kind int
}

// Type is a libclang type (mirror struct).
type Type struct {
	t C.fc_type
}

// TypeKind is a CXTypeKind.
type TypeKind int

const (
	TypeInvalid         TypeKind = C.CXType_Invalid
	TypeUnexposed       TypeKind = C.CXType_Unexposed
	TypeVoid            TypeKind = C.CXType_Void
	TypeBool            TypeKind = C.CXType_Bool
	TypeInt             TypeKind = C.CXType_Int
	TypePointer         TypeKind = C.CXType_Pointer
	TypeLValueReference TypeKind = C.CXType_LValueReference
	TypeRValueReference TypeKind = C.CXType_RValueReference
	TypeRecord          TypeKind = C.CXType_Record
	TypeElaborated      TypeKind = C.CXType_Elaborated
	TypeFunctionProto   TypeKind = C.CXType_FunctionProto
	TypeFunctionNoProto TypeKind = C.CXType_FunctionNoProto
	TypeMemberPointer   TypeKind = C.CXType_MemberPointer
	TypeDependent       TypeKind = C.CXType_Dependent
	TypeConstantArray   TypeKind = C.CXType_ConstantArray
	TypeIncompleteArray TypeKind = C.CXType_IncompleteArray
	TypeVariableArray   TypeKind = C.CXType_VariableArray
	TypeTypedef         TypeKind = C.CXType_Typedef
	TypeBlockPointer    TypeKind = C.CXType_BlockPointer
	TypeOverload        TypeKind = C.CXType_Overload
	TypeEnum            TypeKind = C.CXType_Enum
)

// IsArithmetic reports whether a canonical type of this kind is an integer,
// character, boolean, floating-point or enumeration type (never a pointer,
// nothing that holds one).
func (k TypeKind) IsArithmetic() bool {
	return k >= C.CXType_Bool && k <= C.CXType_LongDouble || k == TypeEnum
}

func (t Type) Kind() TypeKind      { return TypeKind(t.t.kind) }
func (t Type) Spelling() string    { return str(C.fc_type_spelling(t.t)) }
func (t Type) Canonical() Type     { return Type{C.fc_canonical_type(t.t)} }
func (t Type) Pointee() Type       { return Type{C.fc_pointee_type(t.t)} }
func (t Type) Result() Type        { return Type{C.fc_type_result(t.t)} }
func (t Type) ClassType() Type     { return Type{C.fc_type_class(t.t)} }
func (t Type) NonReference() Type  { return Type{C.fc_type_nonref(t.t)} }
func (t Type) Declaration() Cursor { return Cursor{C.fc_type_declaration(t.t)} }
func (t Type) IsVariadic() bool    { return C.fc_is_variadic(t.t) != 0 }

// IsFunctionPointer reports whether the canonical type is a pointer or
// block pointer to a function type (one cgo call).
func (t Type) IsFunctionPointer() bool { return C.fc_is_fnptr(t.t) != 0 }

// IsPointerToFunctionPointer reports whether the canonical type is a
// pointer to a type for which IsFunctionPointer holds (one cgo call).
func (t Type) IsPointerToFunctionPointer() bool { return C.fc_is_ptr_to_fnptr(t.t) != 0 }
func (t Type) IsFunction() bool {
	k := t.Kind()
	return k == TypeFunctionProto || k == TypeFunctionNoProto
}
func (t Type) IsPointerLike() bool {
	k := t.Kind()
	return k == TypePointer || k == TypeMemberPointer || k == TypeBlockPointer
}
func (t Type) IsReference() bool {
	k := t.Kind()
	return k == TypeLValueReference || k == TypeRValueReference
}

// Key identifies a type within a TU (its qualified type pointer).
func (t Type) Key() TypeKey { return TypeKey{uintptr(t.t.data[0]), int(t.t.kind)} }

// VarInit is the initializer of a variable declaration (null if none).
func (c Cursor) VarInit() Cursor { return Cursor{C.fc_var_init(c.c)} }

// NumArguments of a call expression or function declaration (-1 if not
// applicable).
func (c Cursor) NumArguments() int { return int(C.fc_num_args(c.c)) }

// Argument i of a call expression or function declaration.
func (c Cursor) Argument(i int) Cursor { return Cursor{C.fc_arg(c.c, C.unsigned(i))} }

// NumArgs of a function type (-1 if not a function type).
func (t Type) NumArgs() int { return int(C.fc_type_num_args(t.t)) }

// Arg is the type of parameter i of a function type.
func (t Type) Arg(i int) Type { return Type{C.fc_type_arg(t.t, C.unsigned(i))} }

// Elem is the element type of an array type.
func (t Type) Elem() Type { return Type{C.fc_type_elem(t.t)} }
