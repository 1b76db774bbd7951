package clang

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// CompileCommand is one entry of a compilation database.
type CompileCommand struct {
	Directory string
	Filename  string
	Args      []string // argv, argv[0] is the compiler
}

// LoadCompileCommands reads dir/compile_commands.json and returns the
// commands for file (matched by absolute, cleaned path). The error says
// whether the database is missing, unreadable, or does not contain file.
func LoadCompileCommands(dir, file string) ([]CompileCommand, error) {
	dbPath := filepath.Join(dir, "compile_commands.json")
	data, err := os.ReadFile(dbPath)
	if err != nil {
		return nil, fmt.Errorf("no compilation database: %v", err)
	}
	// Validate before libclang sees it: its errors go to stderr and say
	// little.
	var entries []struct {
		Directory *string  `json:"directory"`
		File      *string  `json:"file"`
		Command   *string  `json:"command"`
		Arguments []string `json:"arguments"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("%s: not a valid compilation database: %v", dbPath, jsonErr(data, err))
	}
	for i, e := range entries {
		if e.Directory == nil || e.File == nil || (e.Command == nil && e.Arguments == nil) {
			return nil, fmt.Errorf("%s: entry %d: want \"directory\", \"file\" and \"command\" or \"arguments\"", dbPath, i)
		}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var code C.CXCompilationDatabase_Error
	db := C.clang_CompilationDatabase_fromDirectory(cdir, &code)
	if code != C.CXCompilationDatabase_NoError || db == nil {
		return nil, fmt.Errorf("%s: cannot load the compilation database (is it valid JSON, a list of {directory, file, command|arguments}?)", dbPath)
	}
	defer C.clang_CompilationDatabase_dispose(db)
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	abs = filepath.Clean(abs)
	// Look up through the full list: a lookup by a name the database does
	// not contain returns an inferred command instead of an error.
	all := C.clang_CompilationDatabase_getAllCompileCommands(db)
	defer C.clang_CompileCommands_dispose(all)
	n := int(C.clang_CompileCommands_getSize(all))
	var out []CompileCommand
	for i := 0; i < n; i++ {
		cmd := C.clang_CompileCommands_getCommand(all, C.unsigned(i))
		cc := CompileCommand{
			Directory: str(C.clang_CompileCommand_getDirectory(cmd)),
			Filename:  str(C.clang_CompileCommand_getFilename(cmd)),
		}
		f := cc.Filename
		if !filepath.IsAbs(f) {
			f = filepath.Join(cc.Directory, f)
		}
		if filepath.Clean(f) != abs {
			continue
		}
		na := int(C.clang_CompileCommand_getNumArgs(cmd))
		for j := 0; j < na; j++ {
			cc.Args = append(cc.Args, str(C.clang_CompileCommand_getArg(cmd, C.unsigned(j))))
		}
		out = append(out, cc)
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: the compilation database is empty or malformed", dbPath)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no entry for %s", dbPath, abs)
	}
	return out, nil
}

// pathFlags take a path argument (separate or joined) that is relative to
// the command's directory.
var pathFlags = []string{
	"-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-isysroot",
	"--sysroot", "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-F", "-B",
	"-fprofile-use", "-include-pch", "-resource-dir",
}

// dropWithArg are flags (with one argument) that make no sense for parsing.
var dropWithArg = map[string]bool{"-o": true, "-MF": true, "-MT": true, "-MQ": true, "-Xclang": false}

// dropAlone are flags without argument that are dropped.
var dropAlone = map[string]bool{"-c": true, "-S": true, "-E": true, "-M": true, "-MM": true, "-MD": true, "-MMD": true, "-MP": true, "--": true}

// ParseArgs turns a command into (absolute source file, argv for
// TU.Parse): the source file is removed from argv, paths are made absolute
// against Directory (never -working-directory: LLVM would chdir the whole
// process), output and dependency-file options and a literal "--" are dropped.
func (cc CompileCommand) ParseArgs() (string, []string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cc.Directory, p)
	}
	src := abs(cc.Filename)
	var out []string
	args := cc.Args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if i == 0 {
			out = append(out, a)
			continue
		}
		if dropAlone[a] {
			continue
		}
		if dropWithArg[a] {
			i++
			continue
		}
		if strings.HasPrefix(a, "-o") && len(a) > 2 || strings.HasPrefix(a, "-MF") && len(a) > 3 {
			continue
		}
		if a == "-working-directory" {
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") {
			if filepath.Clean(abs(a)) == filepath.Clean(src) {
				continue
			}
			out = append(out, a)
			continue
		}
		done := false
		for _, f := range pathFlags {
			if a == f && i+1 < len(args) {
				out = append(out, a, abs(args[i+1]))
				i++
				done = true
				break
			}
			if strings.HasPrefix(a, f+"=") {
				out = append(out, f+"="+abs(a[len(f)+1:]))
				done = true
				break
			}
			if strings.HasPrefix(a, f) && len(a) > len(f) && (f == "-I" || f == "-F" || f == "-B" || f == "-isystem" || f == "-iquote" || f == "-idirafter") {
				out = append(out, f+abs(a[len(f):]))
				done = true
				break
			}
		}
		if !done {
			out = append(out, a)
		}
	}
	return src, out
}

// jsonErr adds the line number to a JSON syntax error.
func jsonErr(data []byte, err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		line := 1 + strings.Count(string(data[:min(int(se.Offset), len(data))]), "\n")
		return fmt.Errorf("line %d: %v", line, err)
	}
	return err
}
