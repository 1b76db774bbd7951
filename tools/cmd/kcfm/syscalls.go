package main

import (
	"fmt"
	"strconv"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// syscallSet parses syscall names or numbers for an architecture.
func syscallSet(arch string, names []string) (map[int]bool, error) {
	a, err := sysnum.ParseArch(arch)
	if err != nil {
		return nil, err
	}
	t := sysnum.For(a)
	set := map[int]bool{}
	for _, n := range names {
		if nr, err := strconv.Atoi(n); err == nil {
			if nr < 0 || nr > t.Max() {
				return nil, fmt.Errorf("syscall number %d out of range for %s", nr, a)
			}
			set[nr] = true
			continue
		}
		nr, ok := t.Nr(n)
		if !ok {
			return nil, fmt.Errorf("unknown syscall %q for %s", n, a)
		}
		set[nr] = true
	}
	return set, nil
}
