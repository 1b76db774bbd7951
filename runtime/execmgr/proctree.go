package execmgr

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat is the part of /proc/<pid>/stat the tree logic needs.
type procStat struct {
	pid, ppid, pgrp, session int
	state                    byte
	start                    uint64 // start time in clock ticks after boot (field 22): pid + start names a process
}

// parseStat parses the text of /proc/<pid>/stat. The command name may
// contain spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open <= 0 || end < open || end+2 > len(b) {
		return procStat{}, fmt.Errorf("malformed stat line")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("malformed pid in stat line")
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("short stat line")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat field 22")
	}
	var n [3]int
	for i := range n {
		if n[i], err = strconv.Atoi(f[i+1]); err != nil {
			return procStat{}, fmt.Errorf("malformed stat field %d", i+4)
		}
	}
	return procStat{pid: pid, state: f[0][0], ppid: n[0], pgrp: n[1], session: n[2], start: start}, nil
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// scanProcs reads the stat of every process (not threads) in /proc.
func scanProcs() (map[int]procStat, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	ps := make(map[int]procStat, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		ps[pid] = st
	}
	return ps, nil
}

// treeQuery describes one instance for members.
type treeQuery struct {
	self    int                 // this process (the subreaper)
	leader  int                 // the instance's first process (0: reaped)
	sid     int                 // its session (= process group) id
	exclude func(int) bool      // processes that belong to someone else (with their subtrees)
	orphans func(procStat) bool // claims children of self that belong to no one (escaped orphans); nil: none
}

// members returns every live process of the instance: the leader's
// descendants, every process of its session or process group and their
// descendants, and (with q.orphans) every unclaimed child of q.self with
// its descendants. Zombies are included (they still need reaping).
func members(ps map[int]procStat, q treeQuery) []int {
	children := make(map[int][]int)
	for _, p := range ps {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	seen := map[int]bool{q.self: true}
	var out, queue []int
	add := func(pid int) {
		if seen[pid] || pid <= 1 || (q.exclude != nil && q.exclude(pid)) {
			return
		}
		seen[pid] = true
		queue = append(queue, pid)
	}
	if q.leader > 0 {
		if _, ok := ps[q.leader]; ok {
			add(q.leader)
		}
	}
	if q.sid > 1 {
		for _, p := range ps {
			if p.session == q.sid || p.pgrp == q.sid {
				add(p.pid)
			}
		}
	}
	if q.orphans != nil {
		for _, c := range children[q.self] {
			if q.orphans(ps[c]) {
				add(c)
			}
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, pid)
		for _, c := range children[pid] {
			add(c)
		}
	}
	return out
}

// childrenOf lists the children of pid from /proc/<pid>/task/*/children
// (every thread can be a parent; orphans are reparented to one of them).
func childrenOf(pid int) []int {
	base := "/proc/" + strconv.Itoa(pid) + "/task"
	d, err := os.Open(base)
	if err != nil {
		return nil
	}
	tids, _ := d.Readdirnames(-1)
	d.Close()
	var out []int
	for _, t := range tids {
		b, err := os.ReadFile(base + "/" + t + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// ProcRef names one process: a pid is reused, pid + start time is not.
type ProcRef struct {
	Pid   int
	Start uint64 // /proc/<pid>/stat field 22
}

// Ref returns the ProcRef of a live process.
func Ref(pid int) (ProcRef, error) {
	st, err := readStat(pid)
	if err != nil {
		return ProcRef{}, err
	}
	return ProcRef{Pid: pid, Start: st.start}, nil
}

// uptimeTicks is the time since boot in the clock ticks (USER_HZ, 100 per
// second) of /proc/<pid>/stat's start time, rounded down.
func uptimeTicks() uint64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	sec, frac, _ := strings.Cut(f[0], ".")
	s, err1 := strconv.ParseUint(sec, 10, 64)
	c, err2 := strconv.ParseUint((frac + "00")[:2], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return s*100 + c
}
