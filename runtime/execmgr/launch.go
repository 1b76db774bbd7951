package execmgr

import (
	"os"
	"syscall"
)

// LaunchOptions is the pre-exec part of a start.
type LaunchOptions struct{}

// launch forks and execs the program on the calling (spawner) thread.
func launch(spec Spec, argv []string) (*Instance, func() (Status, error), error) {
	files := []*os.File{spec.Stdin, spec.Stdout, spec.Stderr}
	var null *os.File
	for i, f := range files {
		if f == nil {
			if null == nil {
				var err error
				if null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, nil, err
				}
				defer null.Close()
			}
			files[i] = null
		}
	}
	p, err := os.StartProcess(spec.Path, argv, &os.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: files,
		Sys: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}})
	if err != nil {
		return nil, nil, err
	}
	wait := func() (Status, error) {
		st, err := p.Wait()
		if err != nil {
			return Status{}, err
		}
		return statusOf(st.Sys().(syscall.WaitStatus)), nil
	}
	return &Instance{Pid: p.Pid}, wait, nil
}
