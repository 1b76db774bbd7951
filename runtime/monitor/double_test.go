package monitor

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// doubleModel is the test double of Model. Its "signature" is a text file:
//
//	flag SYSCALL [argN&MASK] [after FUNCTION]   the syscall is an anomaly (when arg N has a bit of MASK
//	                                            set, and only after FUNCTION was entered on that thread)
//	log FILE                                    append every event to FILE
//	fail                                        the loader fails (a broken signature)
//
// FUNCTION is resolved in the executable's symbol table (the test programs
// are linked -no-pie, so symbol values are run-time addresses).
type doubleModel struct {
	nr      int
	arg     int
	mask    uint64
	after   uint64
	afterFn string
	armed   map[int]bool
	mu      sync.Mutex
	log     *os.File
	funcs   int
}

func doubleLoader(sigPath, exe string) (Model, error) {
	f, err := os.Open(sigPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &doubleModel{nr: -1, arg: -1, armed: map[int]bool{}}
	tab := sysnum.For(sysnum.Host())
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		w := strings.Fields(sc.Text())
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "fail":
			return nil, fmt.Errorf("%s:%d: this signature is broken on purpose", sigPath, line)
		case "log":
			if d.log, err = os.OpenFile(w[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
				return nil, err
			}
		case "flag":
			nr, ok := tab.Nr(w[1])
			if !ok {
				return nil, fmt.Errorf("%s:%d: unknown syscall %q", sigPath, line, w[1])
			}
			d.nr = nr
			for i := 2; i < len(w); i++ {
				if w[i] == "after" && i+1 < len(w) {
					d.afterFn = w[i+1]
					if d.after, err = symbol(exe, w[i+1]); err != nil {
						return nil, err
					}
					i++
				} else if strings.HasPrefix(w[i], "arg") {
					a, m, _ := strings.Cut(w[i][3:], "&")
					d.arg, _ = strconv.Atoi(a)
					d.mask, _ = strconv.ParseUint(m, 0, 64)
				}
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown directive %q", sigPath, line, w[0])
		}
	}
	d.logf("load %s", exe)
	return d, nil
}

func symbol(exe, name string) (uint64, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return 0, err
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value, nil
		}
	}
	return 0, fmt.Errorf("%s: no symbol %s", exe, name)
}

func (d *doubleModel) logf(format string, a ...any) {
	if d.log != nil {
		fmt.Fprintf(d.log, format+"\n", a...)
	}
}

func (d *doubleModel) Func(pid, tid int, fn, site uint64, exit bool) *Anomaly {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.funcs++
	if d.after != 0 && fn == d.after && !exit {
		d.armed[tid] = true
		d.logf("func %d %d %s", pid, tid, d.afterFn)
	}
	return nil
}

func (d *doubleModel) Syscall(pid, tid int, nr int, args [6]uint64, ip uint64) *Anomaly {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := sysnum.For(sysnum.Host()).Name(nr)
	d.logf("syscall %d %d %s funcs=%d", pid, tid, name, d.funcs)
	if nr != d.nr || (d.arg >= 0 && args[d.arg]&d.mask == 0) || (d.after != 0 && !d.armed[tid]) {
		return nil
	}
	ev := "syscall " + name
	return &Anomaly{Type: "anomaly", Pid: pid, Tid: tid, Event: ev, Expected: []string{"syscall read", "return evil"},
		Stack:  []Frame{{Function: "evil", File: "server.c", Line: 29}, {Function: "serve", File: "server.c", Line: 54}, {Function: "main"}},
		Reason: "test double: " + ev + " is flagged"}
}

func (d *doubleModel) NewThread(pid, tid, parentPid, parentTid int) {
	d.logf("newthread %d %d %d %d", pid, tid, parentPid, parentTid)
}

func (d *doubleModel) Exec(pid int, path string) { d.logf("exec %d %s", pid, path) }

func (d *doubleModel) Exit(pid, tid int) { d.logf("exit %d %d", pid, tid) }
