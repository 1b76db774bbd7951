package libcsum

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func TestDevDump(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	t0 := time.Now()
	im, err := openImage(p, arch)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := analyse(im)
	s := a.summary()
	fmt.Println("time", time.Since(t0), "segs", len(a.segIdx), "nodes", len(a.nodes), "taken", len(a.taken), "funcs", len(s.Functions), s.Libc, s.LibcVersion, s.BuildID, s.Soname)
	for _, w := range a.warnings {
		fmt.Println("warn", w)
	}
	c := a.close()
	fmt.Println("sites", a.indSites, "mangled", len(a.mangled), "vt", len(a.vtTargets)); fmt.Println("IND:", len(c.sys[a.indNode].list()), SyscallNames(arch, c.sys[a.indNode].list()), c.unknown[a.indNode])
	for _, fn := range []string{"read", "write", "open", "openat", "syscall", "printf", "fopen", "malloc", "getpid", "qsort", "strlen", "memcpy", "getaddrinfo", "getpwnam", "pthread_create", "clock_gettime", "fork", "exit"} {
		f, ok := s.Lookup(fn)
		fmt.Println(fn, ok, len(f.Syscalls), f.UnknownSyscall, f.LoadsCode, f.NrArg, f.Notes)
		if len(f.Syscalls) < 30 {
			fmt.Println("   ", SyscallNames(arch, f.Syscalls))
		}
	}
}

func (a *analysis) symName(x uint64) string {
	best := ""
	var bv uint64
	for _, s := range a.im.syms {
		if s.value <= x && s.value >= bv {
			bv, best = s.value, s.name
		}
	}
	return fmt.Sprintf("%s+%#x", best, x-bv)
}

func (a *analysis) pathTo(from, to int) []string {
	prev := map[int]int{from: -1}
	q := []int{from}
	for len(q) > 0 {
		v := q[0]
		q = q[1:]
		if v == to {
			var out []string
			for x := v; x >= 0; x = prev[x] {
				n := a.nodes[x]
				out = append([]string{fmt.Sprintf("%d:%s[%#x-%#x]%s", n.kind, n.name, n.lo, n.hi, a.symName(n.lo))}, out...)
			}
			return out
		}
		for _, e := range a.nodes[v].out {
			if _, ok := prev[e.to]; !ok {
				prev[e.to] = v
				q = append(q, e.to)
			}
		}
	}
	return nil
}

func TestDevPath(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	im, _ := openImage(p, arch)
	a, _ := analyse(im)
	for _, fn := range []string{os.Getenv("DEVFN")} {
		for _, s := range im.syms {
			if s.name == fn {
				ni := a.segAt(s.value)
				if s.ifunc {
					ni = a.ifuncNode(s.value)
				}
				for _, l := range a.pathTo(ni, a.indNode) {
					fmt.Println(l)
				}
				break
			}
		}
	}
}

func TestDevUnknown(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	im, _ := openImage(p, arch)
	a, _ := analyse(im)
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		if len(n.unknown) > 0 || n.dep != 0 {
			fmt.Printf("%#x %s unknown=%x dep=%b\n", n.lo, a.symName(n.lo), n.unknown, n.dep)
		}
	}
}

func TestDevT(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	im, _ := openImage(p, arch)
	a, _ := analyse(im)
	// remove IND edges temporarily: closure without IND
	saved := a.nodes[a.indNode].out
	a.nodes[a.indNode].out = nil
	c := a.close()
	a.nodes[a.indNode].out = saved
	for _, e := range saved {
		n := a.nodes[e.to]
		l := c.sys[e.to].list()
		if len(l) > 3 {
			fmt.Printf("%-40s %3d %v\n", a.symName(n.lo), len(l), SyscallNames(arch, l))
		}
	}
}

func TestDevSeg(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	im, _ := openImage(p, arch)
	a, _ := analyse(im)
	var x uint64
	fmt.Sscanf(os.Getenv("DEVADDR"), "%x", &x)
	ni := a.segAt(x)
	for k := ni - 2; k <= ni+3; k++ {
		n := a.nodes[k]
		fmt.Printf("seg %#x-%#x strong=%v jmpind=%v leaders=%d dep=%b\n", n.lo, n.hi, n.strong, n.hasJmpInd, len(n.leaders), n.dep)
	}
	n := a.nodes[ni]
	for i, in := range n.insts {
		if ps, ok := n.leaders[i]; ok {
			fmt.Printf("  leader %#x preds %v\n", in.addr, ps)
		}
	}
}
