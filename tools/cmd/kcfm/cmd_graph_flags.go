package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// instrumentFlagsSuffix names the compiler response files written by
// `kcfm graph --instrument-flags`; the compile database CMake writes
// carries them as "@FILE", which kcfm graph itself must not read (the file
// is its own output).
const instrumentFlagsSuffix = ".kcfmflags"

// dropInstrumentFlags removes "@…/*.kcfmflags" from a compile command.
func dropInstrumentFlags(argv []string) []string {
	out := argv[:0:0]
	for _, a := range argv {
		if strings.HasPrefix(a, "@") && strings.HasSuffix(a, instrumentFlagsSuffix) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// writeInstrumentFlags writes the GCC options that leave the TU's silent
// functions uninstrumented (model.TUGraph.InstrumentExclusions) as a
// compiler response file. The file is rewritten only when its content
// changes, so that an unchanged list does not recompile the TU.
func writeInstrumentFlags(path string, g *model.TUGraph) error {
	if !strings.HasSuffix(path, instrumentFlagsSuffix) {
		return fmt.Errorf("--instrument-flags %s: the file name must end in %s", path, instrumentFlagsSuffix)
	}
	return writeExclusions(path, g.InstrumentExclusions())
}

// writeExclusions writes the response file for GCC that leaves the named
// functions uninstrumented (empty: no option).
func writeExclusions(path string, names []string) error {
	var b bytes.Buffer
	if len(names) > 0 {
		b.WriteString("-finstrument-functions-exclude-function-list=" + strings.Join(names, ",") + "\n")
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b.Bytes()) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
