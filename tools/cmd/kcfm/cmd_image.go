package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/tools/image/initramfs"
	"github.com/kcfm-linux/kcfm/tools/image/kernel"
	"github.com/kcfm-linux/kcfm/tools/image/manifest"
	"github.com/kcfm-linux/kcfm/tools/image/qemu"
)

func init() {
	archFlag := &cli.StringFlag{Name: "arch", Usage: "aarch64 or x86_64 (arm64, amd64 accepted)", Required: true}
	cacheFlag := &cli.StringFlag{Name: "cache", Usage: "kernel cache directory", Value: kernel.DefaultDir(), DefaultText: "$KCFM_KERNEL_CACHE or ~/.cache/kcfm/kernels"}
	offlineFlag := &cli.BoolFlag{Name: "offline", Usage: "do not ask apt: use the most recently fetched kernel in the cache"}
	register(&cli.Command{
		Name:  "image",
		Usage: "build and boot QEMU images (Debian cloud kernel + initramfs with einit)",
		Description: `Images are described in docs/images.md. The CMake function kcfm_build_qemu_image
(cmake/kcfm_image.cmake) writes the manifest that 'kcfm image build' reads.`,
		Subcommands: []*cli.Command{
			{
				Name:  "kernel",
				Usage: "resolve the current Debian cloud kernel for an architecture, download it once, print its path",
				Description: `The kernel package is found through the linux-image-cloud-<arch> metapackage in a
private apt state inside the cache (the host's apt and dpkg are not touched). A kernel
already in the cache is not downloaded again.`,
				Flags: []cli.Flag{archFlag, cacheFlag, offlineFlag,
					&cli.BoolFlag{Name: "json", Usage: "print package, version, release and path as JSON"}},
				Action: func(c *cli.Context) error {
					k, err := resolveKernel(c.Context, c.String("arch"), c.String("cache"), c.Bool("offline"))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return json.NewEncoder(os.Stdout).Encode(map[string]any{"arch": k.Arch, "package": k.Package,
							"version": k.Version, "release": k.Release, "path": k.Path, "cached": k.Cached})
					}
					fmt.Println(k.Path)
					return nil
				},
			},
			{
				Name:  "build",
				Usage: "build a gzip newc initramfs from an image manifest",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, Usage: "image manifest (YAML or JSON, docs/images.md)", Required: true},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "initramfs to write (gzip newc)", Required: true},
					&cli.StringFlag{Name: "init-yaml", Usage: "also write the generated init.yaml here"},
				},
				Action: func(c *cli.Context) error {
					m, err := manifest.Load(c.String("manifest"))
					if err != nil {
						return err
					}
					img, err := manifest.Build(m)
					if err != nil {
						return err
					}
					return img.Write(c.String("output"), c.String("init-yaml"))
				},
			},
			{
				Name:      "ls",
				Usage:     "list the entries of an initramfs (gzip or plain newc)",
				ArgsUsage: "INITRD",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "init-yaml", Usage: "print /etc/init.yaml instead"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("image ls: want INITRD")
					}
					f, err := os.Open(c.Args().First())
					if err != nil {
						return err
					}
					defer f.Close()
					ents, err := initramfs.ReadAll(f, 0)
					if err != nil {
						return fmt.Errorf("%s: %v", c.Args().First(), err)
					}
					for _, e := range ents {
						if c.Bool("init-yaml") {
							if e.Name == "etc/init.yaml" {
								os.Stdout.Write(e.Data)
								return nil
							}
							continue
						}
						switch e.Kind {
						case initramfs.KindSymlink:
							fmt.Printf("%-8s %v %9d %s -> %s\n", e.Kind, e.Perm, 0, e.Name, e.Target)
						case initramfs.KindCharDev:
							fmt.Printf("%-8s %v %4d,%4d %s\n", e.Kind, e.Perm, e.Major, e.Minor, e.Name)
						default:
							fmt.Printf("%-8s %v %9d %s\n", e.Kind, e.Perm, len(e.Data), e.Name)
						}
					}
					if c.Bool("init-yaml") {
						return fmt.Errorf("%s has no etc/init.yaml", c.Args().First())
					}
					return nil
				},
			},
			{
				Name:  "run",
				Usage: "boot an image under QEMU (TCG), stream the serial console, decide pass/fail from marker lines",
				Description: `Exit status: 0 when every --expect marker was seen (default "KCFM-RESULT: PASS") and no
--fail marker; 1 when a fail marker was seen, QEMU ended without the markers, or the
image could not be run; 2 on timeout (einit's own, or --timeout on the host side).
Without --kernel the kernel is resolved as by 'kcfm image kernel'.`,
				Flags: []cli.Flag{archFlag, cacheFlag, offlineFlag,
					&cli.StringFlag{Name: "kernel", Usage: "kernel image (default: resolved into --cache)"},
					&cli.StringFlag{Name: "initrd", Usage: "initramfs built by 'kcfm image build'", Required: true},
					&cli.StringFlag{Name: "timeout", Value: "300", Usage: "host-side limit, seconds or a duration (90s, 2m)"},
					&cli.StringSliceFlag{Name: "expect", Usage: "marker that must appear on the console (repeatable)"},
					&cli.StringSliceFlag{Name: "fail", Usage: "marker that fails the run (repeatable; default: KCFM-RESULT: FAIL|TIMEOUT, Kernel panic)"},
					&cli.StringFlag{Name: "append", Usage: "extra kernel command line (einit flags go after \"--\")"},
					&cli.IntFlag{Name: "smp", Value: 2, Usage: "virtual CPUs"},
					&cli.IntFlag{Name: "memory", Value: 512, Usage: "guest memory in MiB"},
					&cli.BoolFlag{Name: "verbose", Usage: "keep the kernel's boot messages (no \"quiet\")"},
					&cli.StringFlag{Name: "log", Usage: "also write the serial console to this file"},
					&cli.BoolFlag{Name: "no-console", Usage: "do not copy the serial console to standard output"},
					&cli.StringSliceFlag{Name: "qemu-arg", Usage: "extra QEMU argument (repeatable)"},
				},
				Action: imageRun,
			},
		},
	})
}

func resolveKernel(ctx context.Context, archName, cache string, offline bool) (*kernel.Kernel, error) {
	arch, err := kernel.ParseArch(archName)
	if err != nil {
		return nil, err
	}
	kc := &kernel.Cache{Dir: cache, Log: os.Stderr}
	if offline {
		return kc.Latest(arch)
	}
	return kc.Resolve(ctx, arch)
}

func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--timeout %q: want seconds or a duration such as 90s", s)
	}
	return d, nil
}

func imageRun(c *cli.Context) error {
	arch, err := kernel.ParseArch(c.String("arch"))
	if err != nil {
		return err
	}
	timeout, err := parseSeconds(c.String("timeout"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	k := c.String("kernel")
	if k == "" {
		kk, err := resolveKernel(ctx, c.String("arch"), c.String("cache"), c.Bool("offline"))
		if err != nil {
			return err
		}
		k = kk.Path
	}
	var console io.Writer = os.Stdout
	if c.Bool("no-console") {
		console = io.Discard
	}
	if p := c.String("log"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		console = io.MultiWriter(console, f)
	}
	o := qemu.Options{Arch: arch, Kernel: k, Initrd: c.String("initrd"), Append: c.String("append"),
		Verbose: c.Bool("verbose"), SMP: c.Int("smp"), MemoryMB: c.Int("memory"), Timeout: timeout,
		Expect: c.StringSlice("expect"), Console: console, ExtraArgs: c.StringSlice("qemu-arg")}
	if c.IsSet("fail") {
		o.Fail = c.StringSlice("fail")
	}
	r, err := qemu.Run(ctx, o)
	if err != nil {
		return err
	}
	uptime := ""
	if r.GuestUptime != "" {
		uptime = ", guest uptime " + r.GuestUptime
	}
	msg := fmt.Sprintf("image run: %s %s: boot to verdict %.2fs%s, QEMU total %.2fs", arch, r.Verdict, r.BootToVerdict.Seconds(), uptime, r.Total.Seconds())
	if r.Reason != "" {
		msg += " (" + r.Reason + ")"
	}
	fmt.Fprintln(os.Stderr, "kcfm "+msg)
	switch r.Verdict {
	case qemu.Pass:
		return nil
	case qemu.Timeout:
		return &exitError{code: 2}
	}
	return &exitError{code: 1}
}
