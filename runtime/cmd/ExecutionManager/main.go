// Command ExecutionManager is the process-launch entity of a
// KasperskyOS-style KCFM image: FlowMonitor does not fork the monitored
// program itself but asks this entity, over the static channel einit
// created between them, to start, stop and restart it (protocol:
// docs/images.md, "Format: ExecutionManager channel protocol v1").
//
//	ExecutionManager [--channel ID] [--klog-channel ID]
//
// It is the programs' parent and child subreaper (runtime/execmgr Local):
// it starts each program through the launcher shim (seccomp filter,
// function-event arena) and sends the seccomp listener and the arena back
// to FlowMonitor, which hands them to FlowChecker. With --klog-channel, the
// filter is the audit entity's rules for the program (the kernel-side audit
// configuration from `kcfm policy --klog`) merged with the checks
// FlowMonitor asks for: the kernel refuses what either refuses and holds
// for FlowChecker what either wants checked. Without its FlowMonitor (the
// channel ends) it kills every program it started (fail closed) and exits.
//
// Exit status: 0 after FlowMonitor's shutdown or SIGTERM, 1 when the channel
// ended otherwise or on errors, 2 on bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

func main() {
	launcher.MaybeRunShim() // the launcher re-executes this binary as its pre-exec shim
	os.Exit(run(os.Args[1:]))
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "ExecutionManager: %s\n", fmt.Sprintf(format, a...))
}

func run(args []string) int {
	fs := flag.NewFlagSet("ExecutionManager", flag.ContinueOnError)
	channel := fs.String("channel", "execmgr", "channel id of FlowMonitor's connection (KCFM_CHANNEL_<id>)")
	klogChannel := fs.String("klog-channel", "", "channel id of the audit entity (Klog); empty: install FlowMonitor's filter as it is")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	local, err := execmgr.NewLocal()
	if err != nil {
		logf("%v", err)
		return 1
	}
	opt := execmgr.ServeOptions{Logf: logf}
	from := "FlowMonitor's filter as it is"
	if *klogChannel != "" {
		kc, err := execmgr.OpenChannel(*klogChannel)
		if err != nil {
			logf("%v", err)
			return 1
		}
		audit, err := execmgr.NewAuditClient(kc)
		if err != nil {
			logf("%v", err)
			return 1
		}
		defer audit.Close()
		opt.Filter = func(req *execmgr.StartReq, requested *seccomp.Spec) (*seccomp.Spec, string, error) {
			rules, info, err := audit.Rules(req.Name, req.Path)
			if err != nil {
				return nil, "", err // fail closed: no audit rules, no start
			}
			merged, err := execmgr.MergeFilters(rules, requested)
			if err != nil {
				return nil, "", err
			}
			n := 0
			if requested != nil {
				n = len(requested.Rules)
			}
			return merged, fmt.Sprintf("Klog %s (%d rules, default %v) + FlowMonitor (%d rules)",
				info.Source, len(rules.Rules), rules.Default, n), nil
		}
		from = fmt.Sprintf("audit rules from Klog (pid %d, channel %s) merged with FlowMonitor's", audit.Peer.Pid, *klogChannel)
	}
	conn, err := execmgr.OpenChannel(*channel)
	if err != nil {
		logf("%v", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	signalled := make(chan os.Signal, 1)
	go func() {
		s := <-sigs
		signalled <- s
		conn.Close() // Serve stops every program it started and returns
	}()
	logf("ready (channel %s; filters: %s)", *channel, from)
	err = execmgr.Serve(conn, local, opt)
	local.Close()
	select {
	case s := <-signalled:
		logf("%v: stopped every program", s)
		return 0
	default:
	}
	switch {
	case err == nil:
		logf("FlowMonitor shut down")
		return 0
	case errors.Is(err, io.EOF):
		logf("FlowMonitor is gone: stopped every program it had started")
	default:
		logf("%v: stopped every program", err)
	}
	return 1
}
