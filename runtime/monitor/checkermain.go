package monitor

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/kcfm-linux/kcfm/runtime/ipc"
)

// CheckerMain is the main of FlowChecker (and of `kcfm` acting as one):
//
//	FlowChecker --ipc-fd N      serve the FlowMonitor connected on fd N (started by FlowMonitor)
//	FlowChecker --listen PATH   serve FlowMonitors connecting to the Unix socket PATH
//
// The signature is FC_GRAPH_FILENAME. It returns the exit status: 0 after a
// shutdown or SIGTERM, 1 on errors, 2 on bad usage.
func CheckerMain(args []string, loader Loader) int {
	fs := flag.NewFlagSet("FlowChecker", flag.ContinueOnError)
	ipcFD := fs.Int("ipc-fd", -1, "serve the FlowMonitor connection on this inherited fd")
	listen := fs.String("listen", "", "serve FlowMonitor connections on this Unix socket path")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: FlowChecker (--ipc-fd N | --listen PATH)\n  environment: %s=signature file\n", EnvGraphFilename)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "FlowChecker: %s\n", fmt.Sprintf(format, a...))
		return code
	}
	if fs.NArg() != 0 || (*ipcFD < 0) == (*listen == "") {
		fs.Usage()
		return ExitUsage
	}
	sig := os.Getenv(EnvGraphFilename)
	if sig == "" {
		return fail(ExitUsage, "%s is not set (it names the signature file to check against)", EnvGraphFilename)
	}
	if loader == nil {
		return fail(ExitError, "no model loader: this binary was built without the checker model (runtime/livemodel)")
	}
	if f, err := os.Open(sig); err != nil {
		return fail(ExitError, "signature %s=%s: %v", EnvGraphFilename, sig, err)
	} else {
		f.Close()
	}
	h := &CheckerHost{Loader: loader, Signature: sig}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	if *ipcFD >= 0 {
		conn, err := ipc.FileConn(os.NewFile(uintptr(*ipcFD), "ipc-fd-"+strconv.Itoa(*ipcFD)))
		if err != nil {
			return fail(ExitError, "%v", err)
		}
		done := make(chan error, 1)
		go func() { done <- h.Serve(conn) }()
		select {
		case err := <-done:
			if err != nil {
				return fail(ExitError, "%v; every program it checked was killed", err)
			}
			return 0
		case s := <-sigs:
			conn.Close() // Serve returns and kills every instance (fail closed)
			err := <-done
			_ = err
			fmt.Fprintf(os.Stderr, "FlowChecker: %v: every program it checked was killed\n", s)
			return 0
		}
	}

	os.Remove(*listen)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: *listen, Net: "unix"})
	if err != nil {
		return fail(ExitError, "listen on %s: %v", *listen, err)
	}
	os.Chmod(*listen, 0o600)
	// The ready line (einit waits for it before starting FlowMonitor).
	fmt.Fprintf(os.Stderr, "FlowChecker: listening on %s (signature %s)\n", *listen, sig)
	var (
		mu    sync.Mutex
		conns = map[*ipc.Conn]bool{}
		wg    sync.WaitGroup
	)
	go func() {
		<-sigs
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			return fail(ExitError, "accept: %v", err)
		}
		c := ipc.NewConn(uc)
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Serve(c); err != nil && !errors.Is(err, io.EOF) {
				h.logf("connection: %v", err)
			}
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	os.Remove(*listen)
	return 0
}
