package execmgr

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// KillSession kills, from any process (not necessarily the parent), every
// process of session or process group sid, every process in extra (if it
// is still the same process), and all
// their descendants, repeating until none is left alive (zombies are left to
// their parent or subreaper to reap). It is the fail-closed path of
// FlowChecker when FlowMonitor is gone. It gives up after timeout.
func KillSession(sid int, extra []ProcRef, timeout time.Duration) error {
	self := os.Getpid()
	deadline := time.Now().Add(timeout)
	for {
		ps, err := scanProcs()
		if err != nil {
			return err
		}
		var pids []int
		seen := map[int]bool{}
		q := treeQuery{self: self, sid: sid}
		for _, p := range members(ps, q) {
			seen[p] = true
			pids = append(pids, p)
		}
		for _, e := range extra {
			if st, ok := ps[e.Pid]; ok && st.start == e.Start && !seen[e.Pid] && e.Pid != self && e.Pid > 1 {
				for _, p := range members(ps, treeQuery{self: self, leader: e.Pid}) {
					if !seen[p] {
						seen[p] = true
						pids = append(pids, p)
					}
				}
			}
		}
		live := 0
		for _, p := range pids {
			if ps[p].state != 'Z' {
				live++
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if sid > 1 {
			syscall.Kill(-sid, syscall.SIGKILL)
		}
		if live == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("execmgr: %d processes of session %d survived SIGKILL", live, sid)
		}
		time.Sleep(time.Millisecond)
	}
}
