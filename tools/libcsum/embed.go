package libcsum

import (
	"embed"
	"fmt"
	"sync"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// The checked-in summaries (regenerate with tools/libcsum/scripts/generate.sh).
//
//go:embed data/*.json
var embedded embed.FS

var (
	embMu    sync.Mutex
	embCache = map[string]*Summary{}
)

// EmbeddedPath is the file name of the checked-in summary of libc ("glibc"
// or "musl") for arch, relative to tools/libcsum.
func EmbeddedPath(libc string, arch sysnum.Arch) string {
	return "data/" + libc + "-" + string(arch) + ".json"
}

// Embedded returns the checked-in summary for libc ("glibc" or "musl") and
// arch. The result is shared: callers must not modify it.
func Embedded(libc string, arch sysnum.Arch) (*Summary, error) {
	if libc != "glibc" && libc != "musl" {
		return nil, fmt.Errorf("no embedded summary for libc %q (have glibc, musl)", libc)
	}
	if sysnum.For(arch) == nil {
		return nil, fmt.Errorf("no embedded summary for architecture %q (have x86_64, aarch64)", arch)
	}
	p := EmbeddedPath(libc, arch)
	embMu.Lock()
	defer embMu.Unlock()
	if s, ok := embCache[p]; ok {
		return s, nil
	}
	data, err := embedded.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("no embedded summary %s: %w", p, err)
	}
	s, err := Parse(data, "embedded "+p)
	if err != nil {
		return nil, err
	}
	if s.Libc != libc || s.Arch != string(arch) {
		return nil, fmt.Errorf("embedded %s is for %s/%s", p, s.Libc, s.Arch)
	}
	embCache[p] = s
	return s, nil
}
