// Command Klog is the audit entity of a KasperskyOS-style KCFM image: the
// owner of the kernel-side audit configuration of the monitored programs.
//
//	Klog --audit FILE [--audit FILE]... [--channel ID]
//
// On KasperskyOS the kernel audits IPC according to the solution's PSL audit
// profiles and the Klog entity reads the records. On Linux the kernel-side
// event source is the seccomp filter each program runs under: it refuses
// system calls outside the program's signature, lets the harmless ones run,
// and holds the sensitive ones for FlowChecker (user notification). Those
// held calls must be answered before they run, so FlowChecker reads them
// directly from the notification descriptor; a forwarding hop could not
// block them and would slow every one down. What stays for this entity is
// the configuration: it loads each program's audit config (format
// kcfm-audit v1, the output of `kcfm policy --klog`, docs/policy.md),
// checks it against this system (architecture, seccomp user notification),
// and gives the ExecutionManager entity the filter for a program before it
// starts it (protocol: docs/images.md, "Format: ExecutionManager channel
// protocol v1", audit-request/audit-rules).
//
// Exit status: 0 when the channel ends, 1 on errors, 2 on bad usage.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/policy"
	"github.com/kcfm-linux/kcfm/tools/policy/filter"
)

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "Klog: %s\n", fmt.Sprintf(format, a...))
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type entry struct {
	source  string
	profile string
	spec    *seccomp.Spec
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("Klog", flag.ContinueOnError)
	var audits multi
	fs.Var(&audits, "audit", "audit config (kcfm-audit v1) of one program; repeatable")
	channel := fs.String("channel", "klog", "channel id of the ExecutionManager's connection (KCFM_CHANNEL_<id>)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || len(audits) == 0 {
		fmt.Fprintln(os.Stderr, "usage: Klog --audit FILE [--audit FILE]... [--channel ID]")
		return 2
	}
	if err := kernelFacts(); err != nil {
		logf("%v", err)
		return 1
	}
	byEntity := map[string]entry{}
	for _, path := range audits {
		p, err := policy.ReadAudit(path)
		if err != nil {
			logf("%v", err)
			return 1
		}
		if p.Arch != sysnum.Host() {
			logf("%s: the audit rules of %s are for %s, this system is %s (link the signature for this architecture)", path, p.Entity, p.Arch, sysnum.Host())
			return 1
		}
		if _, dup := byEntity[p.Entity]; dup {
			logf("%s: a second audit config for entity %s", path, p.Entity)
			return 1
		}
		spec, err := filter.Spec(p)
		if err != nil {
			logf("%s: %v", path, err)
			return 1
		}
		notify, errno := 0, 0
		for _, r := range p.Rules {
			switch r.Action {
			case policy.ActNotify:
				notify++
			case policy.ActErrno:
				errno++
			}
		}
		byEntity[p.Entity] = entry{source: path, profile: p.Entity + "_audit", spec: spec}
		logf("audit rules for %s (%s) from %s: %d allowed syscalls, %d checked by FlowChecker, %d refused with an errno, any other syscall: %s",
			p.Entity, p.Arch, path, len(p.Allowed), notify, errno, p.DefaultAction)
	}
	conn, err := execmgr.OpenChannel(*channel)
	if err != nil {
		logf("%v", err)
		return 1
	}
	logf("ready (channel %s, %d programs)", *channel, len(byEntity))
	err = execmgr.ServeAudit(conn, func(r *execmgr.AuditReq) (*execmgr.AuditRules, error) {
		e, ok := byEntity[r.Entity]
		if !ok {
			return nil, fmt.Errorf("no audit config for entity %s (start Klog with its --audit file)", r.Entity)
		}
		if string(e.spec.Arch) != r.Arch {
			return nil, fmt.Errorf("the audit rules of %s are for %s, not %s", r.Entity, e.spec.Arch, r.Arch)
		}
		logf("audit rules of %s for %s sent (%d filter rules)", r.Entity, r.Exe, len(e.spec.Rules))
		return &execmgr.AuditRules{Entity: r.Entity, Source: e.source, Profile: e.profile, Filter: execmgr.FilterToWire(e.spec)}, nil
	}, logf)
	if err != nil {
		logf("%v", err)
		return 1
	}
	logf("the ExecutionManager closed the channel")
	return 0
}

// kernelFacts checks that this kernel can be the event source and says
// which notification features it has.
func kernelFacts() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	release := string(bytes.TrimRight(u.Release[:], "\x00"))
	action := uint32(seccomp.Notify)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); e != 0 {
		return fmt.Errorf("kernel %s: seccomp user notification is not available (%v): FlowChecker cannot hold sensitive system calls", release, e)
	}
	var sizes [3]uint16
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafe.Pointer(&sizes[0]))); e != 0 {
		return fmt.Errorf("kernel %s: SECCOMP_GET_NOTIF_SIZES: %v", release, e)
	}
	logf("kernel %s (%s): seccomp user notification available (notif %d bytes, resp %d, data %d)", release, sysnum.Host(), sizes[0], sizes[1], sizes[2])
	return nil
}
