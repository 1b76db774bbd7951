package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/runtime/monitor"
	"github.com/kcfm-linux/kcfm/tools/policy"
	"github.com/kcfm-linux/kcfm/tools/policy/filter"
)

func init() {
	register(&cli.Command{
		Name:  "policy",
		Usage: "generate the policies of a program from its signature: PSL, audit config, seccomp profile, systemd drop-in, report",
		Description: `Each output is written only when its flag is given ('-' = standard output):
  --psl      KasperskyOS PSL fragment: the IPC calls the program's syscalls map to
             (tools/policy/data/endpoints.yaml), its audit profile; the rest is denied
  --klog     audit config of the event source (kcfm-audit v1): allowed syscalls and the
             ones FlowChecker checks, with their register conditions
  --seccomp  OCI/Docker seccomp profile (docker/podman --security-opt seccomp=FILE)
  --systemd  systemd drop-in: SystemCallFilter=, SystemCallArchitectures=, Restart=...
  --report   what is allowed and why; a name ending in .json writes JSON
All of them render one policy description, so they agree. See docs/policy.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signature", Usage: "the program's signature (.kcfm)", Required: true},
			&cli.StringFlag{Name: "psl", Usage: "write the PSL fragment to `FILE`"},
			&cli.StringFlag{Name: "klog", Usage: "write the audit config (kcfm-audit YAML) to `FILE`"},
			&cli.StringFlag{Name: "seccomp", Usage: "write the OCI seccomp profile (JSON) to `FILE`"},
			&cli.StringFlag{Name: "systemd", Usage: "write the systemd drop-in to `FILE`"},
			&cli.StringFlag{Name: "report", Usage: "write the report to `FILE` (text; JSON if FILE ends in .json)"},
			&cli.StringFlag{Name: "entity", Usage: "PSL process class `NAME` of the program (default: from the program's file name)"},
			&cli.StringFlag{Name: "arch", Usage: "x86_64 or aarch64; must match the signature (needed only if it names none)"},
			&cli.StringFlag{Name: "mode", Usage: "default (FlowChecker checks the sensitive syscalls) or full (every syscall)"},
			&cli.StringFlag{Name: "default-action", Value: string(policy.ActKill), Usage: "for syscalls outside the allowlist: kill-process or errno"},
			&cli.IntFlag{Name: "errno", Value: policy.EPERM, Usage: "errno for --default-action errno"},
			&cli.StringSliceFlag{Name: "add-sensitive", Usage: "add `ENTRY` to the sensitive set: name[:cond][=action], as in the FlowMonitor config"},
			&cli.StringSliceFlag{Name: "remove-sensitive", Usage: "remove syscall `NAME` from the sensitive set"},
			&cli.StringFlag{Name: "monitor-config", Usage: "FlowMonitor config `FILE`: its entity's mode, sensitive.add/remove and restart policy are used"},
			&cli.StringFlag{Name: "monitor-entity", Usage: "entity of --monitor-config (default: --entity, or its only entity)"},
			&cli.StringFlag{Name: "mapping", Usage: "syscall → IPC mapping `FILE` (kcfm-endpoints v1) instead of the shipped one"},
			&cli.StringFlag{Name: "vfs-filesystem", Usage: "PSL class of the VFS program serving files (default kl.VfsRamFs)"},
			&cli.StringFlag{Name: "vfs-network", Usage: "PSL class of the VFS program serving the network (default kl.VfsNet)"},
			&cli.StringFlag{Name: "psl-starter", Value: "Einit", Usage: "PSL class allowed to start the entity"},
			&cli.BoolFlag{Name: "audit-default", Usage: "add \"audit default = PROFILE 0\" to the PSL (one per solution)"},
			&cli.StringFlag{Name: "seccomp-listener", Usage: "make the checked syscalls SCMP_ACT_NOTIFY with this listenerPath (runc); default SCMP_ACT_LOG"},
		},
		Action: policyAction,
	})
}

func policyAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("policy: unexpected arguments %q (the signature is given with --signature)", c.Args().Slice())
	}
	outs := map[string]string{}
	for _, k := range []string{"psl", "klog", "seccomp", "systemd", "report"} {
		if v := c.String(k); v != "" {
			outs[k] = v
		}
	}
	if len(outs) == 0 {
		return fmt.Errorf("policy: nothing to write; give at least one of --psl, --klog, --seccomp, --systemd, --report")
	}
	stdout := 0
	seen := map[string]string{}
	for _, k := range []string{"psl", "klog", "seccomp", "systemd", "report"} {
		v, ok := outs[k]
		if !ok {
			continue
		}
		if v == "-" {
			stdout++
			continue
		}
		abs, err := filepath.Abs(v)
		if err != nil {
			return fmt.Errorf("policy: --%s %s: %v", k, v, err)
		}
		if prev, dup := seen[abs]; dup {
			return fmt.Errorf("policy: --%s and --%s name the same file %s", prev, k, v)
		}
		seen[abs] = k
	}
	if stdout > 1 {
		return fmt.Errorf("policy: only one output can go to standard output ('-')")
	}
	sigPath := c.String("signature")
	sig, err := model.ReadSignature(sigPath)
	if err != nil {
		return fmt.Errorf("policy: signature: %w", err)
	}

	arch, _, err := policy.ArchOf(sig, c.String("arch"))
	if err != nil {
		return fmt.Errorf("policy: %s: %w", sigPath, err)
	}
	opt := policy.Options{
		Arch: c.String("arch"), Entity: c.String("entity"), Mode: c.String("mode"),
		DefaultAction: policy.Action(c.String("default-action")),
	}
	if opt.DefaultAction == policy.ActErrno {
		opt.Errno = c.Int("errno")
	} else if c.IsSet("errno") {
		return fmt.Errorf("policy: --errno needs --default-action errno")
	}
	add, remove := c.StringSlice("add-sensitive"), c.StringSlice("remove-sensitive")
	restart, err := defaultRestart()
	if err != nil {
		return err
	}
	if f := c.String("monitor-config"); f != "" {
		e, err := monitorEntity(f, c.String("monitor-entity"), c.String("entity"))
		if err != nil {
			return err
		}
		if opt.Mode == "" {
			opt.Mode = e.Mode
		}
		add = append(append([]string(nil), e.Sensitive.Add...), add...)
		remove = append(append([]string(nil), e.Sensitive.Remove...), remove...)
		restart = restartOf(e)
	} else if c.IsSet("monitor-entity") {
		return fmt.Errorf("policy: --monitor-entity needs --monitor-config")
	}
	// The sensitive set is the runtime's (FlowMonitor installs the same).
	if opt.Sensitive, err = filter.Sensitive(arch, add, remove); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	p, err := policy.Compute(sig, opt)
	if err != nil {
		return fmt.Errorf("policy: %s: %w", sigPath, err)
	}
	mapping := policy.DefaultMapping()
	if f := c.String("mapping"); f != "" {
		if mapping, err = policy.LoadMapping(f); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
	}
	for flag, role := range map[string]string{"vfs-filesystem": "filesystem", "vfs-network": "network"} {
		if v := c.String(flag); v != "" {
			if mapping, err = mapping.WithVFSClass(role, v); err != nil {
				return fmt.Errorf("policy: --%s: %w", flag, err)
			}
		}
	}
	src := filepath.Base(sigPath)
	for _, w := range p.Warnings {
		fmt.Fprintf(os.Stderr, "kcfm policy: warning: %s\n", w)
	}

	// Render everything first, then write: a bad option leaves no half set.
	rendered := map[string][]byte{}
	var b bytes.Buffer
	for k := range outs {
		b.Reset()
		switch k {
		case "psl":
			err = policy.WritePSL(&b, p, policy.PSLOptions{Mapping: mapping, Starter: c.String("psl-starter"), AuditDefault: c.Bool("audit-default"), Source: src})
		case "klog":
			err = policy.WriteAudit(&b, p)
		case "seccomp":
			err = policy.WriteOCI(&b, p, policy.OCIOptions{ListenerPath: c.String("seccomp-listener")})
		case "systemd":
			err = policy.WriteSystemd(&b, p, policy.SystemdOptions{Restart: restart, Source: src})
		case "report":
			var r *policy.Report
			r, err = policy.BuildReport(sig, p, mapping)
			if err == nil {
				if strings.HasSuffix(outs[k], ".json") {
					err = r.WriteJSON(&b)
				} else {
					err = r.WriteText(&b)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("policy: --%s: %w", k, err)
		}
		rendered[k] = append([]byte(nil), b.Bytes()...)
	}
	for k, path := range outs {
		if err := writeOutput(path, rendered[k]); err != nil {
			return fmt.Errorf("policy: --%s: %w", k, err)
		}
	}
	return nil
}

// writeOutput writes atomically (temporary file + rename), creating the
// folder (e.g. UNIT.service.d/); "-" is standard output.
func writeOutput(path string, data []byte) error {
	if path == "-" {
		_, err := io.Copy(os.Stdout, bytes.NewReader(data))
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// monitorEntity loads the FlowMonitor config and picks the entity.
func monitorEntity(path, name, entity string) (*monitor.Entity, error) {
	cfg, err := monitor.LoadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if name == "" && entity != "" {
		if _, ok := cfg.Entities[entity]; ok {
			name = entity
		}
	}
	e, err := cfg.Entity(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %v (choose with --monitor-entity)", path, err)
	}
	return e, nil
}

// restartOf is the restart policy of a validated FlowMonitor entity.
func restartOf(e *monitor.Entity) policy.Restart {
	r := policy.Restart{OnAnomaly: e.OnAnomaly, RestartOnCrash: e.RestartOnCrash,
		Initial: e.Backoff.Initial.D(), Max: e.Backoff.Max.D(), Window: e.CrashLoop.Window.D()}
	if e.CrashLoop.Restarts != nil {
		r.Restarts = *e.CrashLoop.Restarts
	}
	return r
}

// defaultRestart is FlowMonitor's restart policy for an entity that sets
// none.
func defaultRestart() (policy.Restart, error) {
	e := &monitor.Entity{Path: "/kcfm-policy-defaults"}
	if err := e.Validate(); err != nil {
		return policy.Restart{}, fmt.Errorf("policy: FlowMonitor defaults: %v", err)
	}
	return restartOf(e), nil
}
