package clang

/*
#include <stdlib.h>
#include <string.h>
#include <clang-c/Index.h>

typedef struct {
	char **names;
	int n, cap;
} fc_incl;

static void fc_incl_visit(CXFile f, CXSourceLocation *stack, unsigned depth, CXClientData data) {
	(void)stack;
	(void)depth;
	fc_incl *acc = (fc_incl *)data;
	CXString s = clang_getFileName(f);
	const char *c = clang_getCString(s);
	if (c != NULL) {
		if (acc->n == acc->cap) {
			int cap = acc->cap ? acc->cap * 2 : 64;
			char **p = realloc(acc->names, (size_t)cap * sizeof *p);
			if (p == NULL) {
				clang_disposeString(s);
				return;
			}
			acc->names = p;
			acc->cap = cap;
		}
		acc->names[acc->n] = strdup(c);
		if (acc->names[acc->n] != NULL)
			acc->n++;
	}
	clang_disposeString(s);
}

static void fc_inclusions(CXTranslationUnit tu, fc_incl *acc) {
	clang_getInclusions(tu, fc_incl_visit, acc);
}

static char *fc_incl_at(fc_incl *acc, int i) { return acc->names[i]; }

static void fc_incl_free(fc_incl *acc) {
	for (int i = 0; i < acc->n; i++)
		free(acc->names[i]);
	free(acc->names);
}
*/
import "C"

import (
	"path/filepath"
	"sort"
)

// Inclusions returns every file the translation unit read (the main file
// and all headers, transitively), as absolute, cleaned, sorted paths: the
// dependencies of the TU's graph for build-system depfiles.
func (t *TU) Inclusions() []string {
	var acc C.fc_incl
	C.fc_inclusions(t.p, &acc)
	defer C.fc_incl_free(&acc)
	seen := map[string]bool{}
	var out []string
	for i := 0; i < int(acc.n); i++ {
		p := C.GoString(C.fc_incl_at(&acc, C.int(i)))
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
