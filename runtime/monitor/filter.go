package monitor

import (
	"fmt"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// FilterSpec is the seccomp filter a program instance runs under.
//
//   - default mode: the sensitive entries (seccomp.ParseSensitive syntax)
//     are notified to FlowChecker, with their argument conditions; every
//     other syscall is allowed in the kernel.
//   - full mode: every syscall is notified. clone3 fails with ENOSYS (its
//     flags are in memory), so libc falls back to clone and thread creation
//     is seen with its flags.
//
// With a signature (sigPath != "") and a SignatureFilter installed (the
// model package installs it, as it installs DefaultLoader), the filter is
// made from the signature: see livemodel.SignatureFilter.
func FilterSpec(sigPath string, arch sysnum.Arch, mode string, sensitive []string) (*seccomp.Spec, error) {
	base, err := baseFilterSpec(arch, mode, sensitive)
	if err != nil || sigPath == "" || SignatureFilter == nil {
		return base, err
	}
	return SignatureFilter(sigPath, base, mode)
}

// SignatureFilter turns the base filter of a mode (the sensitive set, or
// full mode) into the filter of one program from its signature. Nil in
// tests that use model doubles.
var SignatureFilter func(sigPath string, base *seccomp.Spec, mode string) (*seccomp.Spec, error)

func baseFilterSpec(arch sysnum.Arch, mode string, sensitive []string) (*seccomp.Spec, error) {
	switch mode {
	case ModeDefault, "":
		rules, err := seccomp.ParseSensitive(arch, sensitive)
		if err != nil {
			return nil, err
		}
		s := &seccomp.Spec{Arch: arch, Default: seccomp.Allow, Rules: rules}
		return s, s.Validate()
	case ModeFull:
		rules, err := seccomp.ParseSensitive(arch, []string{"clone3=errno:ENOSYS"})
		if err != nil {
			return nil, err
		}
		s := &seccomp.Spec{Arch: arch, Default: seccomp.Notify, Rules: rules}
		return s, s.Validate()
	}
	return nil, fmt.Errorf("unknown mode %q (expected %q or %q)", mode, ModeDefault, ModeFull)
}

// FilterAware is implemented by a Model that wants to know which syscalls
// reach it: FlowChecker calls ObserveFilter once, before the first event,
// with the filter the instance runs under (syscalls the filter allows in
// the kernel are never seen).
type FilterAware interface {
	ObserveFilter(spec *seccomp.Spec)
}
