#!/usr/bin/env python3
"""Run rsandbox's own tests on Debian's 6.1 kernel, pure cgroup v2, in QEMU.

Usage:
  suite.py kernel CACHE_DIR            fetch + extract Debian's kernel (prints vmlinux path)
  suite.py run --kernel VMLINUX [--cli RSANDBOX_BIN] [--checkout DIR] [--probe-src PROBE_C] \\
               --test NAME=PATH [--test NAME=PATH ...] [--only RUNS] [--timeout SECS] [--json OUT]

`kernel`: `apt-get download linux-image-amd64` and the versioned package it
depends on into CACHE_DIR, `dpkg -x` (never installed), then the ELF inside
the bzImage's xz stream is written to CACHE_DIR/vmlinux-<version> (the
uncompressed kernel boots ~10 s faster under TCG).

`run`: builds an initramfs with busybox-static, setpriv, the test binaries,
the `rsandbox` CLI and the shared libraries `ldd` lists, at fixed paths of
its own (the host paths compiled into the tests are linked to them at boot:
the checkout may be anywhere, /tmp included; see compiled_in); boots
`qemu-system-x86_64 -M microvm` (TCG) with `cgroup_no_v1=all`; the init
mounts a pure cgroup2 hierarchy with memory, pids and cpu enabled, puts
itself in the leaf /shell, and runs each planned test run (RUNS below) in
its own leaf cgroup, as root or as nobody (uid 65534). Every run prints
`RSBX-VM-RUN name=<bin>:<user> rc=<n> secs=<n>`, and the last line is
`RSBX-VM-DONE rc=<n>`. Exit status: 0 when every run passed, 1 when a run
failed, 2 when the VM gave no result (boot failure or time limit).

The runs: limits `vm_*` (pure-v2 enforcement: OOM with memory.events,
pids.max, cpu.max throttling, cgroup.kill of the tree, device rules by the
eBPF device program, cgroups removed) as root and the rootless delegation
and eBPF privilege errors as nobody; the `vm` target
(tests/vm/main.rs: what 6.1 lacks is refused in strict mode, reported in
best-effort mode and by `rsandbox check`); core, fs, hardening, hygiene,
no_alloc and the CLI tests, as root (which includes each binary's own nobody
variants) and as nobody; last, `vm:root+nouserns` and `vm:nobody+nouserns`
set user.max_user_namespaces=0 in the VM and run
vm::user_namespaces_off_degrade_honestly (best-effort boxes degrade and
say so, strict ones name the sysctl). SKIPS lists what is filtered out and why; both are
printed before the boot. Scripts/test-vm.sh is the host-side entry point.
"""
import glob, gzip, hashlib, lzma, os, re, select, shlex, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

# ------------------------------------------------------------------ the plan
#
# Tests left out in the VM, each with the reason printed before the boot.
# Only real differences of the VM belong here: tools absent from a minimal
# initramfs, or a kernel difference of 6.1 (then a test of the `vm` target,
# tests/vm/main.rs, checks the clear refusal instead).
PY = "runs /usr/bin/python3 in the box (not in the minimal VM)"
OVERLAY = ("overlay needs lowerdir+ (Linux 6.8): on 6.1 it is refused before spawn "
           "with Error::Unsupported, checked by vm::overlay_on_this_kernel")
LANDLOCK = ("strict Landlock filesystem rules need ABI 3 (truncate): 6.1 has ABI 2, refused "
            "with Error::Unsupported, checked by vm::landlock_filesystem_rules_on_this_abi")
EGRESS = ("runs curl, python3 and getent in the box against local servers (not in the "
          "minimal VM); the gateway's setup in the child runs there in no_alloc")
THOUSAND = ("1,000 spawns or forks: minutes under TCG, past the VM run's time limit; the "
            "host run covers them, and the VM runs the smaller leak tests")
PROGRAMS = ("runs real programs (python3, gcc, git, node, curl) in a strict box: not in the "
            "minimal VM; the default profile itself is checked there by the probe tests")
SKIPS = {
    "core": {
        "network_namespace_has_only_loopback::caller": PY,
        "network_namespace_has_only_loopback::nobody": PY,
        "shared_net_namespace_is_joined_by_every_box": PY,
    },
    "fs": {
        "overlay_discards_or_keeps_writes::": OVERLAY,
        "no_leaks_after_200_spawns::": "mounts an overlay: " + OVERLAY,
    },
    "egress": {
        "allowed_name_works_by_proxy_and_without::": EGRESS,
        "denied_names_are_nxdomain_and_never_forwarded::": EGRESS,
        "mismatched_names_ips_udp_and_ipv6_are_refused::": EGRESS,
        "a_live_update_lets_a_new_name_through::": EGRESS,
        "a_secret_reaches_its_host_only::": EGRESS,
        "works_without_a_pid_namespace::": EGRESS,
        "the_gateway_leaves_nothing_behind::": EGRESS,
    },
    "cli": {
        "egress_flags_refuse_and_report_in_json": "runs getent in the box (not in the minimal VM)",
        "root_caller_box_is_unprivileged_unless_host_identity": (
            "reads the host's /etc/shadow (not in the minimal VM)"),
    },
    "services": {
        "published_port_reaches_a_server_in_a_private_network::": PY + " (HTTP server)",
        "socket_activation_serves_from_an_empty_network::": PY + " (HTTP server)",
        "socket_activation_without_pid_ns_sets_the_payload_pid::": PY + " (HTTP server)",
    },
    "image": {
        "image_made_by_umoci::": "builds its image with umoci (not in the minimal VM)",
    },
    "template": {
        "landlock_of_the_description_applies_in_forks::": LANDLOCK,
        "landlock_of_the_description_applies_in_namespaced_forks::": LANDLOCK,
        "a_thousand_forks_leave_no_fd_process_or_mount::": THOUSAND,
        "a_thousand_forks_leave_no_cgroup": THOUSAND,
    },
    "pool": {
        "a_thousand_pooled_spawns_leave_nothing::": THOUSAND,
    },
    "run_image": {
        "run_image_as_": "builds its image with umoci (not in the minimal VM)",
    },
    "secure_defaults": {
        "strict_box_reads_no_host_secret::": (
            "reads the host's /etc/shadow, /etc/gshadow, /root and /home, which the "
            "minimal VM does not have"),
        "hidden_paths_are_the_documented_list::": (
            "checks the list against the host's /root, /home and /etc/ssh (not in the "
            "minimal VM)"),
        "hidden_path_masks_are_locked": (
            "reads the host's /etc/shadow and /home (not in the minimal VM)"),
        "root_only_socket_is_not_connectable": (
            "listens under the host's /var/lib (not in the minimal VM)"),
    },
    "hardening": {
        "landlock_denies_outside_rules": LANDLOCK,
        "strict_box_runs_": PROGRAMS,
        "docker_shaped_profile_runs_python_gcc_git": PROGRAMS,
        "podman_profile_as_installed_runs_python_gcc_git": (
            PROGRAMS + "; and /usr/share/containers/seccomp.json is the host's"),
        "battery_as_nobody": ("(root run only) re-runs every test, landlock_denies_outside_rules "
                              "included, as nobody; the hardening:nobody run is that pass"),
    },
}

# The limits tests that are not `vm_*` target the hybrid host (v1
# controllers delegated under /sys/fs/cgroup/<ctrl>); these nobody ones hold
# on pure v2 too. nobody_rlimits_and_timeouts_work and
# nobody_delegated_cgroup_enforces_limits run /usr/bin/python3 in the box;
# the vm_* tests cover those limits with /bin/sh and dd.
LIMITS_NOBODY = [
    "nobody_cgroup_limit_without_delegation_is_a_privilege_error",
    "nobody_best_effort_runs_and_reports_unapplied_limits",
    "nobody_ebpf_device_rules_are_a_privilege_error",
]


# Paths compiled into the tests name the host's checkout, which may be
# anywhere: under /tmp (hidden in the VM by the tmpfs its init mounts there),
# in a directory with spaces, reached through a symlink. The VM carries what
# the tests open by such a path at fixed paths of its own (the binaries in
# /t, checkout files in /opt/checkout) and its init links each compiled-in
# path to them once its file systems are mounted.
#   CARGO_BIN_EXE_rsandbox (the CLI tests): the CLI as cargo built it -> /t/rsandbox
#   CARGO_MANIFEST_DIR/../../<file>: CHECKOUT_FILES, read by the tests named
# MANIFEST_DIRS are made as real directories: `..` resolves through them.
CHECKOUT_FILES = {
    "docs/profile.md": "services::documented_examples_parse",
}
MANIFEST_DIRS = ["crates/rsandbox", "crates/rsandbox-cli"]


def default_checkout():
    """The checkout this script is in, as cargo names it: cargo takes the
    working directory from getcwd(), the physical path, so CARGO_MANIFEST_DIR
    has no symlinks even when the checkout was entered through one."""
    return os.path.realpath(os.path.join(HERE, "..", "..", "..", ".."))


def compiled_in(cli, checkout):
    """(directories to make, [(compiled-in path, fixed path in the VM)])."""
    dirs = [os.path.join(checkout, d) for d in MANIFEST_DIRS]
    links = [(os.path.abspath(cli), "/t/rsandbox")] if cli else []
    links += [(os.path.join(checkout, f), "/opt/checkout/" + f) for f in CHECKOUT_FILES]
    return dirs, links


def plan(tests):
    """[(name, user, cgroup leaf, env, argv-after-binary)], in order."""
    runs = []

    def skips(name, user):
        a = []
        for t in SKIPS.get(name, {}):
            if t == "battery_as_nobody" and user != "root":
                continue
            a += ["--skip", t]
        return a

    if "limits" in tests:
        # vm_* alone in /init: the tests assert that path.
        runs.append(("limits", "root", "init", "RSBX_VM=1",
                     ["--ignored", "--test-threads=1", "vm_"]))
        runs.append(("limits", "nobody", "limits-nobody", "RSBX_NOBODY=1",
                     ["--ignored", "--exact", "--test-threads=1"] + LIMITS_NOBODY))
    if "vm" in tests:
        for user in ("root", "nobody"):
            runs.append(("vm", user, "vm-" + user, "RSBX_VM=1", ["--nocapture"]))
    # Root runs include each test's own nobody variant (setpriv); the nobody
    # run starts the whole binary unprivileged, with the binary's own
    # protocol for "this is the nobody pass".
    nobody_env = {
        "fs": "RSANDBOX_AS_NOBODY=1",
        "hardening": "RSANDBOX_HARDENING_NOBODY=1 RSANDBOX_HARDENING_SUID_PROBE=/opt/suid-probe",
    }
    known = ["core", "fs", "hardening", "hygiene", "no_alloc"]
    for name in known + sorted(set(tests) - set(known) - {"limits", "vm"}):
        if name not in tests:
            continue
        # Box cgroups with limits go under the empty /boxes: the run's own
        # cgroup holds the test process, and pure v2 refuses children with
        # controllers there (vm_no_internal_processes_rule_is_a_clear_error).
        runs.append((name, "root", name + "-root", "RSBX_BOX_PARENT=/boxes",
                     skips(name, "root")))
        if name != "hygiene":  # its *_as_nobody tests are the nobody pass
            runs.append((name, "nobody", name + "-nobody", nobody_env.get(name, ""),
                         skips(name, "nobody")))
    if "vm" in tests:
        # Last: the init sets user.max_user_namespaces=0 (in the VM only)
        # before a user suffixed +nouserns, and it stays so for the rest of
        # the boot.
        for user in ("root", "nobody"):
            runs.append(("vm", user + "+nouserns", "vm-nouserns-" + user, "RSBX_VM=1",
                         ["--nocapture", "--exact", "user_namespaces_off_degrade_honestly"]))
    return runs


# ------------------------------------------------------------------ kernel

def extract_vmlinux(vmlinuz, out):
    data = open(vmlinuz, "rb").read()
    if data.startswith(b"\x7fELF"):
        shutil.copyfile(vmlinuz, out)
        return
    i = data.find(b"\xfd7zXZ\x00")
    if i < 0:
        sys.exit(f"{vmlinuz}: no xz stream inside (not a Debian amd64 kernel?)")
    elf = lzma.LZMADecompressor().decompress(data[i:])
    assert elf.startswith(b"\x7fELF"), "xz stream is not an ELF"
    with open(out + ".tmp", "wb") as f:
        f.write(elf)
    os.rename(out + ".tmp", out)


# Modules the VM loads (a Debian system autoloads them; the initramfs has no
# udev/modprobe): overlayfs is `=m` in Debian's config.
MODULES = ["kernel/fs/overlayfs/overlay.ko"]


def kernel(cache):
    """Print the cached vmlinux, fetching Debian's kernel first if needed.
    Its modules listed in MODULES are kept next to it in modules-<version>/."""
    os.makedirs(cache, exist_ok=True)
    have = sorted(glob.glob(os.path.join(cache, "vmlinux-*")))
    if have and all(os.path.exists(os.path.join(
            cache, "modules-" + have[-1].split("vmlinux-", 1)[1], os.path.basename(m)))
            for m in MODULES):
        print(have[-1])
        return
    # The metapackage names the versioned image (Depends: linux-image-6.1.0-N-amd64).
    def depends():
        return subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                              capture_output=True, text=True).stdout
    dep = depends()
    m = re.search(r"Depends: (linux-image-\S+-amd64)", dep)
    if not m:
        # A fresh machine or container may have no package lists yet.
        print("test-vm: apt-get update (no package lists for linux-image-amd64)", file=sys.stderr)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=sys.stderr)
        dep = depends()
        m = re.search(r"Depends: (linux-image-\S+-amd64)", dep)
    if not m:
        sys.exit("apt-cache depends linux-image-amd64 names no linux-image-*-amd64:\n" + dep)
    pkg = m.group(1)
    subprocess.run(["apt-get", "download", pkg], cwd=cache, check=True,
                   stdout=sys.stderr)
    deb = sorted(glob.glob(os.path.join(cache, pkg + "_*.deb")))[-1]
    x = os.path.join(cache, "x")
    shutil.rmtree(x, ignore_errors=True)
    subprocess.run(["dpkg", "-x", deb, x], check=True)
    vmlinuz = sorted(glob.glob(os.path.join(x, "boot", "vmlinuz-*")))[-1]
    ver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    mods = os.path.join(cache, "modules-" + ver)
    os.makedirs(mods, exist_ok=True)
    for mod in MODULES:
        shutil.copyfile(os.path.join(x, "lib", "modules", ver, mod),
                        os.path.join(mods, os.path.basename(mod)))
    out = os.path.join(cache, "vmlinux-" + ver)
    extract_vmlinux(vmlinuz, out)
    shutil.rmtree(x)
    os.remove(deb)
    print(out)


# ------------------------------------------------------------------ initramfs

def libs_of(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    for m in re.finditer(r"(/\S+) \(0x", out):
        yield m.group(1)


class Cpio:
    def __init__(self):
        self.buf = bytearray()
        self.ino = 1
        self.dirs = set()
        self.names = set()

    def _add(self, name, mode, data):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        nm = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        self.buf += hdr.encode() + nm
        self.buf += b"\0" * ((4 - len(self.buf) % 4) % 4)
        self.buf += data
        self.buf += b"\0" * ((4 - len(self.buf) % 4) % 4)
        self.ino += 1

    def dir(self, d, mode=0o755):
        d = "/" + d.strip("/")
        if d == "/" or d in self.dirs:
            return
        self.dir(os.path.dirname(d))
        self.dirs.add(d)
        self._add(d, 0o40000 | mode, b"")

    def file(self, dst, data, mode=0o755):
        self.dir(os.path.dirname("/" + dst.lstrip("/")))
        self._add(dst, 0o100000 | mode, data)

    def symlink(self, dst, target):
        self.dir(os.path.dirname("/" + dst.lstrip("/")))
        self._add(dst, 0o120777, target.encode())

    def bytes(self):
        self._add("TRAILER!!!", 0, b"")
        return bytes(self.buf)


def usr(path):
    """Paths as they land in the usrmerged initramfs."""
    for top in ("/lib64/", "/lib/", "/bin/", "/sbin/"):
        if path.startswith(top):
            return "/usr/" + path[1:]
    return path


INIT = r"""#!/bin/sh
export PATH=/usr/bin:/usr/sbin HOME=/root
if [ ! -e /.stage2 ]; then
  # pivot_root(2) refuses the initramfs (rootfs has no parent mount): copy it
  # to a tmpfs and switch_root there, as a real system's root is a mount.
  mkdir /newroot
  mount -t tmpfs -o mode=0755 root /newroot
  for f in /*; do case $f in /newroot) ;; *) cp -a "$f" /newroot/ ;; esac; done
  touch /newroot/.stage2
  exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /run
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
ln -sf pts/ptmx /dev/ptmx 2>/dev/null
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
hostname rsbx-vm
for m in /opt/modules/*.ko; do [ -e "$m" ] && insmod "$m"; done
fail=0
# The host paths compiled into the tests, linked to what the VM carries at
# fixed paths (suite.py, compiled_in): made after the mounts above, which
# would hide them (a checkout under /tmp).
place() { # compiled-in-path fixed-path
  [ "$1" -ef "$2" ] && return
  mkdir -p "$(dirname "$1")" && ln -s "$2" "$1" && [ -e "$1" ] ||
    { echo "RSBX-VM-PLACE failed: $1 -> $2"; fail=1; }
}
@PLACE@
# NB: busybox sh runs its own applets before PATH lookup: util-linux
# setpriv is called by its full path.
echo "RSBX-VM-KERNEL $(uname -r) cmdline: $(cat /proc/cmdline)"
echo "RSBX-VM-CGROUP mounts: $(grep cgroup /proc/mounts | tr "\n" ";") controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
CG=/sys/fs/cgroup
echo "+memory +pids +cpu" > $CG/cgroup.subtree_control
mkdir $CG/shell $CG/boxes
# Out of the root first: v2's "no internal processes" rule (EBUSY otherwise).
echo $$ > $CG/shell/cgroup.procs
echo "+memory +pids +cpu" > $CG/boxes/cgroup.subtree_control
echo "RSBX-VM-CGROUP subtree_control: root=[$(cat $CG/cgroup.subtree_control)] boxes=[$(cat $CG/boxes/cgroup.subtree_control)]"
cd /tmp
chmod 0755 /t /t/*
# A root-owned setuid probe for the hardening tests' nobody pass.
cp /opt/probe /opt/suid-probe && chmod 4755 /opt/suid-probe
if [ -x /t/rsandbox ]; then
  echo "==== rsandbox check (root)"
  /t/rsandbox check; echo "RSBX-VM-CHECK user=root rc=$?"
  echo "==== rsandbox check (nobody)"
  /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /t/rsandbox check; echo "RSBX-VM-CHECK user=nobody rc=$?"
  /t/rsandbox check --json > /tmp/check.json 2>&1; echo "RSBX-VM-CHECK-JSON $(tr -d '\n' < /tmp/check.json)"
fi
run() { # name user leaf env args...
  name=$1; user=$2; leaf=$3; envs=$4; shift 4
  mkdir -p $CG/$leaf
  echo "==== RSBX-VM-BEGIN name=$name:$user cgroup=/$leaf args: $*"
  t0=$(cut -d. -f1 /proc/uptime)
  case $user in root*) pre="";; *) pre="/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --";; esac
  # The VM's kernel only, never the host's: user namespaces off.
  case $user in *+nouserns) echo 0 > /proc/sys/user/max_user_namespaces || fail=1;; esac
  # Each run alone in its leaf cgroup, as under `systemd-run --scope`.
  timeout -s KILL @RUN_TIMEOUT@ sh -c 'echo $$ > '$CG/$leaf'/cgroup.procs; exec "$@"' sh \
      env RUST_BACKTRACE=1 $envs $pre /t/$name "$@" < /dev/null
  rc=$?
  t1=$(cut -d. -f1 /proc/uptime)
  echo "RSBX-VM-RUN name=$name:$user rc=$rc secs=$((t1-t0))"
  [ $rc = 0 ] || fail=1
}
@RUNS@
echo "RSBX-VM-DONE rc=$fail"
sync
echo o > /proc/sysrq-trigger
sleep 5
echo b > /proc/sysrq-trigger
"""

# A `cc` for the hardening tests: they compile tests/data/probe.c at run
# time; the VM has no compiler, so the host compiled the same source with the
# same flags and this stand-in copies the result after checking the source.
CC = r"""#!/bin/sh
out=; src=
while [ $# -gt 0 ]; do
  case "$1" in -o) out=$2; shift;; *.c) src=$1;; esac; shift
done
want=$(cat /opt/probe.sha256)
have=$(sha256sum "$src" | cut -d' ' -f1)
if [ "$want" != "$have" ]; then echo "cc (VM stand-in): $src is not the probe.c built on the host" >&2; exit 1; fi
cp /opt/probe "$out" && chmod 0755 "$out"
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def build_initramfs(out, tests, cli, checkout, probe_src, runs, run_timeout, kernel_path):
    c = Cpio()
    for d in ["/proc", "/sys", "/tmp", "/dev", "/root", "/etc", "/opt", "/t",
              "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/var/tmp", "/mnt"]:
        c.dir(d)
    for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64")]:
        c.symlink(link, target)
    busybox = shutil.which("busybox")
    # ldd fails on a static binary ("not a dynamic executable").
    if not busybox or subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        sys.exit("a static busybox is needed (apt-get install busybox-static)")
    c.file("/usr/bin/busybox", open(busybox, "rb").read())
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    elfs = {"/usr/bin/setpriv": shutil.which("setpriv") or "/usr/bin/setpriv"}
    for name, path in tests.items():
        elfs["/t/" + name] = path
    if cli:
        elfs["/t/rsandbox"] = cli
    for f in CHECKOUT_FILES:
        c.file("/opt/checkout/" + f, open(os.path.join(checkout, f), "rb").read(), 0o644)
    # The probe, compiled here exactly as hardening.rs compiles it.
    tmp = tempfile.mkdtemp(prefix="rsbx-vm-probe-")
    probe = os.path.join(tmp, "probe")
    subprocess.run(["cc", "-O1", "-pthread", "-o", probe, probe_src], check=True)
    elfs["/opt/probe"] = probe
    c.file("/opt/probe.sha256", hashlib.sha256(open(probe_src, "rb").read()).hexdigest().encode())
    c.file("/usr/bin/cc", CC.encode())
    ver = os.path.basename(kernel_path).split("vmlinux-", 1)[-1]
    mods = os.path.join(os.path.dirname(os.path.abspath(kernel_path)), "modules-" + ver)
    for m in sorted(glob.glob(os.path.join(mods, "*.ko"))):
        c.file("/opt/modules/" + os.path.basename(m), open(m, "rb").read(), 0o644)
    libs = {"/lib64/ld-linux-x86-64.so.2"}
    for dst, src in elfs.items():
        c.file(dst, open(src, "rb").read())
        libs.update(libs_of(src))
    shutil.rmtree(tmp)
    for lib in sorted(libs):
        c.file(usr(lib), open(os.path.realpath(lib), "rb").read())
    for a in applets:
        if a not in ("busybox", "cc"):
            c.symlink("/usr/bin/" + a, "busybox")
    c.file("/etc/passwd", PASSWD.encode(), 0o644)
    c.file("/etc/group", GROUP.encode(), 0o644)
    c.file("/etc/hostname", b"rsbx-vm\n", 0o644)
    lines = []
    for name, user, leaf, env, args in runs:
        lines.append("run %s %s %s %s %s" % (name, user, leaf, shlex.quote(env),
                                             " ".join(shlex.quote(a) for a in args)))
    dirs, links = compiled_in(cli, checkout)
    place = ["mkdir -p %s || fail=1" % " ".join(shlex.quote(d) for d in dirs)]
    place += ["place %s %s" % (shlex.quote(p), shlex.quote(fixed)) for p, fixed in links]
    init = (INIT.replace("@PLACE@", "\n".join(place)).replace("@RUNS@", "\n".join(lines))
            .replace("@RUN_TIMEOUT@", str(run_timeout)))
    c.file("/init", init.encode())
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(c.bytes())


# ------------------------------------------------------------------ qemu

def run(args):
    import argparse
    ap = argparse.ArgumentParser(prog="suite.py run")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cli",
                    help="the rsandbox CLI at the path cargo built it (CARGO_BIN_EXE_rsandbox); "
                         "without it no `rsandbox check` at boot, and the CLI tests fail")
    ap.add_argument("--checkout", default=default_checkout(),
                    help="the checkout as cargo named it (CARGO_MANIFEST_DIR's workspace)")
    ap.add_argument("--probe-src", default=os.path.join(HERE, "..", "data", "probe.c"))
    ap.add_argument("--test", action="append", default=[], help="NAME=PATH")
    ap.add_argument("--timeout", type=int, default=900, help="whole VM, seconds")
    ap.add_argument("--run-timeout", type=int, default=240, help="one test binary run, seconds")
    ap.add_argument("--only", default="", help="comma list of NAME or NAME:USER runs")
    ap.add_argument("--accel", default="tcg",
                    help="tcg (default) or kvm where /dev/kvm really works (it hangs here)")
    ap.add_argument("--json")
    ap.add_argument("--log")
    o = ap.parse_args(args)
    tests = dict(t.split("=", 1) for t in o.test)
    runs = plan(tests)
    if o.only:
        only = set(o.only.split(","))
        runs = [r for r in runs if r[0] in only or "%s:%s" % (r[0], r[1]) in only]
        # Only the binaries those runs need go into the initramfs.
        tests = {n: p for n, p in tests.items() if n in {r[0] for r in runs}}
    print("rsandbox VM suite: Debian kernel %s, pure cgroup v2, qemu microvm (TCG)" % o.kernel)
    print("runs (each in its own leaf cgroup):")
    for name, user, leaf, env, args_ in runs:
        print("  %-10s as %-6s %s %s" % (name, user, env, " ".join(args_)))
    print("filtered out in the VM:")
    for name, sk in SKIPS.items():
        for t, why in sk.items():
            print("  %s %s: %s" % (name, t, why))
    _, links = compiled_in(o.cli, o.checkout)
    print("compiled-in paths made in the VM (after its /tmp tmpfs):")
    for p, fixed in links:
        print("  %s -> %s" % (p, fixed))
    print("limits: only vm_* (as root) and %s (as nobody) run here; the other limits "
          "tests target the hybrid v1 host" % ", ".join(LIMITS_NOBODY))
    sys.stdout.flush()
    kernel_path = o.kernel
    tmp = tempfile.mkdtemp(prefix="rsbx-vm-")
    if not open(kernel_path, "rb").read(4) == b"\x7fELF":
        kernel_path = os.path.join(tmp, "vmlinux")
        extract_vmlinux(o.kernel, kernel_path)
    initrd = os.path.join(tmp, "initrd.gz")
    t0 = time.time()
    build_initramfs(initrd, tests, o.cli, o.checkout, o.probe_src, runs, o.run_timeout,
                    o.kernel)
    print("initramfs: %.1f MB in %.1f s" % (os.path.getsize(initrd) / 1e6, time.time() - t0))
    cmd = ["qemu-system-x86_64", "-M", "microvm", "-accel", o.accel,
           "-cpu", "host" if o.accel == "kvm" else "max",
           "-m", "2048", "-smp", "2",
           "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
           "-kernel", kernel_path, "-initrd", initrd, "-append",
           "console=ttyS0 rdinit=/init cgroup_no_v1=all tsc_early_khz=2100000 "
           "reboot=t panic=-1 quiet loglevel=4"]
    print("$ " + " ".join(shlex.quote(a) for a in cmd))
    sys.stdout.flush()
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = bytearray()
    log = open(o.log, "wb") if o.log else None
    timed_out = False
    while True:
        left = o.timeout - (time.time() - t0)
        if left <= 0:
            timed_out = True
            p.kill()
            break
        r, _, _ = select.select([p.stdout], [], [], min(left, 5))
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            if log:
                log.write(chunk)
    p.wait()
    shutil.rmtree(tmp)
    text = out.decode(errors="replace").replace("\r\n", "\n")
    secs = time.time() - t0
    results = [dict(re.findall(r"(\w+)=(\S+)", m)) for m in re.findall(r"RSBX-VM-RUN (.*)", text)]
    # Per run: libtest's own count (its last "test result" line).
    for r in results:
        seg = text.split("RSBX-VM-BEGIN name=%s " % r["name"], 1)[-1].split("RSBX-VM-RUN ", 1)[0]
        counts = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; "
                            r"\d+ measured; (\d+) filtered out", seg)
        if counts:
            r["passed"], r["failed"], r["ignored"], r["filtered"] = counts[-1]
    done = re.search(r"RSBX-VM-DONE rc=(\d+)", text)
    print("\n==== rsandbox VM suite summary (%.0f s in the VM)" % secs)
    for r in results:
        print("  %-18s rc=%-4s %4s s  %-6s %s passed, %s failed, %s filtered out" % (
            r["name"], r["rc"], r["secs"], "ok" if r["rc"] == "0" else "FAILED",
            r.get("passed", "?"), r.get("failed", "?"), r.get("filtered", "?")))
    for m in re.findall(r"RSBX-VM-PLACE failed: (.*)", text):
        print("  compiled-in path not made in the VM: %s" % m)
    ran = {r["name"] for r in results}
    missing = ["%s:%s" % (n, u) for n, u, *_ in runs if "%s:%s" % (n, u) not in ran]
    if timed_out:
        print("  VM time limit (%d s) reached; not run: %s" % (o.timeout, " ".join(missing)))
    status = 2 if not done else (0 if done.group(1) == "0" and not missing else 1)
    if o.json:
        import json
        with open(o.json, "w") as f:
            json.dump({"status": status, "seconds": round(secs), "timed_out": timed_out,
                       "runs": results, "not_run": missing,
                       "skipped": SKIPS}, f, indent=1)
    print("RSBX-VM-STATUS %d" % status)
    sys.exit(status)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "kernel":
        kernel(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "run":
        run(sys.argv[2:])
    else:
        sys.exit(__doc__)
