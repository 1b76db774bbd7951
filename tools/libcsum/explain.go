package libcsum

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Explanation is a shortest path in the analysis graph from an exported
// function to a node that makes a syscall (or has an unknown syscall site,
// or loads code): why the syscall is in the function's summary.
type Explanation struct {
	Function string
	What     string   // "syscall NAME", "unknown syscall number", "dlopen"
	Steps    []string // one line per node on the path
}

// Explain analyses the libc at path and explains why function fn's summary
// contains syscall what ("unknown" for the unknown flag, "dlopen" for
// loads_code). symbols, if not empty, is an ELF file with a full symbol
// table for the same build (a detached debug file such as
// /usr/lib/debug/.build-id/xx/yyyy.debug) used only to name internal code.
func Explain(path string, arch sysnum.Arch, fn, what, symbols string) (*Explanation, error) {
	im, err := openImage(path, arch)
	if err != nil {
		return nil, err
	}
	a, err := analyse(im)
	if err != nil {
		return nil, err
	}
	var names []namedRange
	if symbols != "" {
		if names, err = readSymtab(symbols); err != nil {
			return nil, err
		}
	}
	for _, s := range im.syms {
		names = append(names, namedRange{s.value, s.value + s.size, s.name})
	}
	sort.SliceStable(names, func(i, j int) bool { return names[i].lo < names[j].lo })
	start := -1
	switch fn {
	case "<fatal>":
		start = a.fatalNode
	case "<cancellation>":
		start = a.cancelEntry
	}
	if strings.HasPrefix(fn, "0x") {
		var x uint64
		if _, err := fmt.Sscanf(fn, "0x%x", &x); err == nil {
			start = a.segAt(x)
		}
	}
	for _, s := range im.syms {
		if s.name == fn && start < 0 {
			if s.ifunc {
				start = a.ifuncNode(s.value)
			} else {
				start = a.segAt(s.value)
			}
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%s: no exported function %s", path, fn)
	}
	nr := -1
	switch what {
	case "unknown", "dlopen":
	default:
		n, ok := a.table.Nr(what)
		if !ok {
			return nil, fmt.Errorf("%q is not a %s syscall name (or unknown, dlopen)", what, arch)
		}
		nr = n
	}
	goal := func(n *node) bool {
		switch what {
		case "unknown":
			return len(n.unknown) > 0
		case "dlopen":
			return n.flags&fLoads != 0
		}
		for _, s := range n.localSys {
			if s == nr {
				return true
			}
		}
		return false
	}
	prev := map[int]int{start: -1}
	prevSite := map[int]int{}
	q := []int{start}
	found := -1
	for len(q) > 0 && found < 0 {
		x := q[0]
		q = q[1:]
		if goal(a.nodes[x]) {
			found = x
			break
		}
		for _, e := range a.nodes[x].out {
			if _, ok := prev[e.to]; !ok {
				prev[e.to] = x
				prevSite[e.to] = e.site
				q = append(q, e.to)
			}
		}
	}
	ex := &Explanation{Function: fn, What: what}
	if found < 0 {
		ex.Steps = []string{"not reachable: the summary does not contain it"}
		return ex, nil
	}
	var chain []int
	for x := found; x >= 0; x = prev[x] {
		chain = append(chain, x)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		x := chain[i]
		line := a.describe(x, names)
		if i > 0 {
			if s := prevSite[chain[i-1]]; s >= 0 && a.nodes[x].kind == nSeg && s < len(a.nodes[x].insts) {
				line += fmt.Sprintf("  --[%#x]-->", a.nodes[x].insts[s].addr)
			} else if s == -2 {
				line += "  --[jump-table range]-->"
			}
		} else {
			n := a.nodes[x]
			if what == "unknown" && len(n.unknown) > 0 {
				line += fmt.Sprintf("  (unknown site %#x)", n.unknown[0])
			}
		}
		ex.Steps = append(ex.Steps, line)
	}
	return ex, nil
}

type namedRange struct {
	lo, hi uint64
	name   string
}

func readSymtab(path string) ([]namedRange, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []namedRange
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			out = append(out, namedRange{s.Value, s.Value + s.Size, s.Name})
		}
	}
	return out, nil
}

func nameAt(names []namedRange, x uint64) string {
	i := sort.Search(len(names), func(i int) bool { return names[i].lo > x })
	best := ""
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if names[j].lo <= x && (x < names[j].hi || (names[j].hi == names[j].lo && names[j].lo == x)) {
			if best == "" || len(names[j].name) < len(best) {
				best = names[j].name
			}
		}
	}
	if best == "" {
		return "?"
	}
	return best
}

func (a *analysis) describe(x int, names []namedRange) string {
	n := a.nodes[x]
	switch n.kind {
	case nSeg:
		nm := nameAt(names, n.lo)
		var extra []string
		if len(n.localSys) > 0 {
			extra = append(extra, "syscalls "+strings.Join(SyscallNames(a.im.arch, uniq(append([]int(nil), n.localSys...))), ","))
		}
		if len(n.unknown) > 0 {
			extra = append(extra, "unknown")
		}
		s := fmt.Sprintf("seg %#x-%#x %s", n.lo, n.hi, nm)
		if len(extra) > 0 {
			s += " [" + strings.Join(extra, "; ") + "]"
		}
		return s
	case nInd:
		return "<unresolved indirect: all address-taken code>"
	case nVtable:
		return "<stdio vtable call>"
	case nMangled:
		return "<PTR_DEMANGLE'd call>"
	}
	return "<" + n.name + ">"
}
