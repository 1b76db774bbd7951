package checker

import (
	"io"

	"github.com/kcfm-linux/kcfm/runtime/trace"
)

// ReplayResult is the outcome of replaying a trace.
type ReplayResult struct {
	Events  int      // events checked
	Anomaly *Anomaly // the first event the model rejected, nil if none
	Line    int      // trace line of the anomaly
	Stats   Stats
}

// Replay checks a recorded trace against the model, event by event, and
// stops at the first anomaly. Syscalls the model does not observe (see New)
// are skipped, as the live event source would not report them.
func (m *Model) Replay(r *trace.Reader) (*ReplayResult, error) {
	res := &ReplayResult{}
	procs := map[int]*Process{}
	get := func(pid int) *Process {
		p := procs[pid]
		if p == nil {
			p = m.NewProcess(pid)
			p.EnableStats()
			procs[pid] = p
		}
		return p
	}
	defer func() {
		for _, p := range procs {
			res.Stats.Events += p.stats.Events
			res.Stats.Branching += p.stats.Branching
		}
	}()
	for {
		e, err := r.Next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		var a *Anomaly
		switch e.Ev {
		case trace.Enter:
			a = get(e.Pid).Enter(e.Tid, m.FunctionBySymbol(e.Sym, e.File))
		case trace.Exit:
			a = get(e.Pid).Exit(e.Tid, m.FunctionBySymbol(e.Sym, e.File))
		case trace.Syscall:
			if !m.observed[e.Nr] {
				continue
			}
			p := get(e.Pid)
			a = p.Syscall(e.Tid, e.Nr)
			if a == nil && m.table != nil {
				switch m.table.Name(e.Nr) {
				case "fork", "vfork", "clone", "clone3":
					p.SnapshotFork(e.Tid)
				}
			}
		case trace.Thread:
			if p := procs[e.Pid]; p != nil {
				p.NewThread(e.Tid)
			} else if parent := procs[e.PPid]; parent != nil && e.PPid != e.Pid {
				c := parent.ForkChild(e.PTid, e.Pid)
				procs[e.Pid] = c
				// ForkChild leaves the child with a root frame if the parent
				// has no snapshot; the stats of children are accounted too.
			} else {
				get(e.Pid)
			}
			continue
		case trace.Exec:
			get(e.Pid).Exec(nil)
			continue
		case trace.Gone:
			if p := procs[e.Pid]; p != nil {
				p.ExitThread(e.Tid)
			}
			continue
		}
		res.Events++
		if a != nil {
			res.Anomaly = a
			res.Line = r.Line()
			return res, nil
		}
	}
}
