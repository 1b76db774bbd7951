package main

import (
	"os"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"golang.org/x/sys/unix"
)

type mountSpec struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	perm                   os.FileMode
	required               bool // print a warning either way; required ones are on every kernel we use
}

var mounts = []mountSpec{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555, true},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555, true},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", 0o755, true},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777, true},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777, true},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755, true},
	// For the audit sources: tracepoints (eBPF) and pinned objects; cgroups for FlowMonitor.
	{"tracefs", "/sys/kernel/tracing", "tracefs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o700, false},
	{"bpf", "/sys/fs/bpf", "bpf", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "mode=0700", 0o700, false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555, false},
}

// sysInit prepares the machine when einit is PID 1.
func sysInit(con *console) {
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, m.perm); err != nil && m.required {
			con.printf("%s warning: mkdir %s: %v", inityaml.MarkerEinit, m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil && (m.required || err != unix.ENODEV) {
			con.printf("%s warning: mount %s on %s: %v", inityaml.MarkerEinit, m.fstype, m.target, err)
		}
	}
	// The kernel opened /dev/console as fds 0-2 if it existed in the initial
	// root; if not, open it now that devtmpfs is mounted.
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err != nil {
		if fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0); err == nil {
			for i := 0; i < 3; i++ {
				unix.Dup2(fd, i)
			}
			if fd > 2 {
				unix.Close(fd)
			}
		}
	}
	if err := unix.Sethostname([]byte("kcfm")); err != nil {
		con.printf("%s warning: sethostname: %v", inityaml.MarkerEinit, err)
	}
	if err := loopbackUp(); err != nil {
		con.printf("%s warning: loopback: %v", inityaml.MarkerEinit, err)
	}
}

// loopbackUp sets IFF_UP on "lo"; the kernel then assigns 127.0.0.1/8 and ::1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// powerOff ends the machine. Every process left is killed first, file
// systems are synced, then reboot(POWER_OFF): PSCI on arm64 virt, ACPI on
// x86 pc. PID 1 must never return; if the call fails, the kernel would panic
// on exit, which with panic=-1 and QEMU's -no-reboot also ends the VM.
func powerOff(con *console) {
	unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	con.printf("%s power off", inityaml.MarkerEinit)
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		con.printf("%s power off failed: %v", inityaml.MarkerEinit, err)
	}
	for {
		time.Sleep(time.Hour)
	}
}
