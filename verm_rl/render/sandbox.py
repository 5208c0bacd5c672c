"""Isolation for untrusted render programs, applied in a child forked from a warm worker.

Layers, strongest first (each is used when the kernel and our privileges allow it):
1. new network namespace: no interface but a down loopback, so no connection goes anywhere;
2. new mount namespace with a minimal filesystem view (``fsview``): a read-only tmpfs root with
   read-only binds of the interpreter, site-packages, the imported packages, system libraries and
   fonts, /dev/null & co, a private /proc and the per-render scratch tmpfs — no home, no checkout,
   no host /tmp. Without the view (it failed): every mount re-mounted read-only instead;
3. new PID namespace: the program runs as its PID 1, so whatever it spawns dies with it;
4. as root: drop to ``nobody`` (no writes to root-owned places, no signals to the worker,
   RLIMIT_NPROC then really caps processes and threads); as non-root: a user namespace when
   allowed (that is what gives layers 1–2 to an unprivileged user);
5. rlimits: CPU seconds, address space, file size, core size, process count;
6. a scrubbed environment (HOME and TMPDIR in scratch), no inherited file descriptors but stdio
   and the result pipe (and read-only files the view shows anyway), and a Python audit hook that
   refuses process creation, signals, sockets and file writes outside the scratch dir (a seat
   belt, not a wall: layers 1–5 hold even if user code gets around it with ctypes).
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import platform
import pwd
import resource
import signal
import stat
import sys
from dataclasses import dataclass, field

from verm_rl.render.fsview import FsView
from verm_rl.render.options import RenderOptions

log = logging.getLogger(__name__)

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 38, 24
_CAP_VERSION_3 = 0x20080522


_libc = ctypes.CDLL(None, use_errno=True)
_libc_gil = ctypes.PyDLL(None, use_errno=True)  # holds the GIL across the call (fork-like)


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for one sandboxed render: the sandbox's share of ``RenderOptions`` (its defaults live
    there, every field set from it by ``from_options``)."""

    timeout_s: float
    memory_mb: int  # address space the program may add on top of the warm worker
    file_size_mb: int
    max_procs: int  # RLIMIT_NPROC for the dropped user (threads count here too)
    stdout_bytes: int
    drop_to_user: str

    @classmethod
    def from_options(cls, options: RenderOptions) -> SandboxConfig:
        """From resolved options (``options.resolved(task)``: the timeout is a number)."""
        return cls(timeout_s=options.timeout, memory_mb=int(options.memory_mb),
                   file_size_mb=int(options.file_size_mb), max_procs=int(options.max_procs),
                   stdout_bytes=int(options.stdout_bytes), drop_to_user=str(options.drop_to_user))


@dataclass
class Layers:
    """Which isolation layers a child actually got (logged once per worker)."""

    netns: bool = False
    pidns: bool = False
    mountns: bool = False
    userns: bool = False
    read_only_root: bool = False
    fs_view: bool = False
    private_proc: bool = False
    private_tmp: list[str] = field(default_factory=list)
    dropped_uid: int | None = None
    no_new_privs: bool = False
    no_caps: bool = False
    audit_hook: bool = False

    def summary(self) -> str:
        on = [k for k, v in vars(self).items() if v not in (False, None, [])]
        return ", ".join(on) or "rlimits only"


USERNS_REFUSED: dict[str, str] = {}  # why the kernel refused a user namespace (reported once)


class ForbiddenOperation(PermissionError):
    """An operation the sandbox does not allow (process creation, network, outside writes)."""


def _unshare(flags: int) -> bool:
    return _libc.unshare(flags) == 0


def _mount(src: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> bool:
    return _libc.mount(src, target, fstype, flags, data) == 0


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


_pyapi = ctypes.pythonapi
_SYS_CLONE = 56  # x86-64
_NS_FLAGS = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS


def _clone(flags: int) -> int:
    """fork() with extra clone flags, in one syscall, keeping CPython's fork bookkeeping."""
    _pyapi.PyOS_BeforeFork()
    pid = _libc_gil.syscall(ctypes.c_long(_SYS_CLONE), ctypes.c_ulong(flags | signal.SIGCHLD),
                            None, None, None, ctypes.c_ulong(0))
    if pid == 0:
        _pyapi.PyOS_AfterFork_Child()
    else:
        _pyapi.PyOS_AfterFork_Parent()
    return pid


def fork_isolated() -> tuple[int, Layers]:
    """Fork a child directly into new PID, network and mount namespaces where the kernel allows.

    The child is PID 1 of its namespace, so anything it spawns dies with it. As non-root a user
    namespace comes first (that is what lets an unprivileged user make the others). Falls back
    to a plain fork with no namespaces (the child then still gets rlimits and the audit hook).
    """
    attempts = [(_NS_FLAGS, False)] if os.getuid() == 0 else [(_NS_FLAGS | CLONE_NEWUSER, True)]
    if platform.machine() == "x86_64":
        for flags, userns in attempts:
            uid, gid = os.getuid(), os.getgid()
            pid = _clone(flags)
            if pid == 0:
                if userns:
                    _map_own_ids(uid, gid)
                return 0, Layers(netns=True, pidns=True, mountns=True, userns=userns)
            if pid > 0:
                return pid, Layers(netns=True, pidns=True, mountns=True, userns=userns)
            if userns and not USERNS_REFUSED:
                err = ctypes.get_errno()
                USERNS_REFUSED["reason"] = f"clone(CLONE_NEWUSER|NEWNS|NEWPID|NEWNET): {os.strerror(err)}"
                log.warning("render sandbox DEGRADED: the kernel refused a user namespace (%s); renders run "
                            "without network/mount/PID namespaces or the filesystem view, with rlimits and "
                            "the audit hook only. Enable unprivileged user namespaces (kernel.unprivileged_"
                            "userns_clone=1, user.max_user_namespaces>0) for the full sandbox.",
                            USERNS_REFUSED["reason"])
    return os.fork(), Layers()


def _map_own_ids(uid: int, gid: int) -> None:
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        pass


def _mount_points() -> list[tuple[str, set[str]]]:
    """(mount point, options) for every mount this process sees, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            out.append((point, set(fields[5].split(","))))
    return out


_KEEP_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
               "relatime": 1 << 21}


def _isolate_filesystem(layers: Layers, scratch: str, view: FsView | None, scratch_mb: int) -> None:
    """The minimal view when it can be built; else (fallback) a private tmpfs on the scratch dir
    and every other mount (but /proc, /sys, /dev) read-only: nothing hidden, nothing writable."""
    if not layers.mountns:
        return
    if view is not None:
        try:
            applied = view.enter(scratch, scratch, scratch_mb)
        except OSError as e:
            log.warning("render sandbox: filesystem view failed (%s); falling back to a read-only host view", e)
        else:
            layers.fs_view = "fs_view" in applied
            layers.private_proc = "private_proc" in applied
            layers.read_only_root = "read_only_root" in applied
            layers.private_tmp.append(scratch)
            return
    _mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    if _mount(b"tmpfs", scratch.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=256m,mode=0777"):
        layers.private_tmp.append(scratch)
    ok = True
    for point, opts in _mount_points():
        if point == scratch or point.startswith(("/proc", "/sys")) or (
                point.startswith("/dev") and not point.startswith("/dev/shm")):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, bit in _KEEP_FLAGS.items():
            if name in opts:
                flags |= bit
        ok &= _mount(b"none", point.encode(), None, flags, None) or "ro" in opts
    layers.read_only_root = ok


def _set_rlimits(cfg: SandboxConfig, base_vsize: int) -> None:
    def lim(res: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(res)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass

    lim(resource.RLIMIT_CPU, int(cfg.timeout_s) + 2)
    lim(resource.RLIMIT_AS, base_vsize + cfg.memory_mb * 2**20)
    lim(resource.RLIMIT_FSIZE, cfg.file_size_mb * 2**20)
    lim(resource.RLIMIT_CORE, 0)


_USERS: dict[str, pwd.struct_passwd | None] = {}


def lookup_user(name: str) -> pwd.struct_passwd | None:
    """The account to drop to, looked up once (the view has no /etc/passwd)."""
    if name not in _USERS:
        try:
            _USERS[name] = pwd.getpwnam(name)
        except KeyError:
            _USERS[name] = None
    return _USERS[name]


def _limit_processes(max_procs: int) -> None:
    try:  # threads count here, so not 0
        resource.setrlimit(resource.RLIMIT_NPROC, (max_procs, max_procs))
    except (ValueError, OSError):
        pass


def _drop_privileges(cfg: SandboxConfig, layers: Layers, scratch: str) -> None:
    if os.getuid() != 0:
        if layers.userns:  # counted per user namespace: only this render's processes (without one, the
            _limit_processes(cfg.max_procs)  # count is all of the user's processes: no cap there)
        return
    user = lookup_user(cfg.drop_to_user)
    if user is None:
        return
    os.chown(scratch, user.pw_uid, user.pw_gid)
    os.setgroups([])
    os.setgid(user.pw_gid)
    _limit_processes(cfg.max_procs)  # only meaningful once we are not root
    os.setuid(user.pw_uid)
    layers.dropped_uid = user.pw_uid


def drop_capabilities() -> bool:
    """Clear every capability (bounding, effective, permitted, inheritable). As non-root the child
    is the owner of its user namespace with all capabilities in it: without this, a program could
    (through ctypes) remount the view's read-only binds writable and write to the user's checkout
    or virtualenv. A nested user namespace gets capabilities back, but its mounts are locked."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows (or no CAP_SETPCAP: none to drop)
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
    return _libc.capset(header, data) == 0


def seed_random(seed: int = 0) -> None:
    """Every render starts from the same random state, whichever worker runs it."""
    import random

    random.seed(seed)
    np_random = sys.modules.get("numpy.random")  # only if imported: importing it here may be impossible
    if np_random is not None:
        np_random.seed(seed)


def _wipe_initial_environment() -> None:
    """Zero the environment block the process was started with: /proc/<pid>/environ reads it,
    whatever ``os.environ`` holds now (call after ``os.environ.clear()``)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50, 51)
        if 0 < start < end and end - start < 1 << 24:
            ctypes.memset(start, 0, end - start)
    except (OSError, ValueError, IndexError):
        pass


def _scrub_environment(scratch: str) -> None:
    os.environ.clear()
    _wipe_initial_environment()
    os.environ.update(
        PATH="/usr/bin:/bin", HOME=scratch, TMPDIR=scratch, LANG="C.UTF-8", MPLBACKEND="Agg",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
    )
    import tempfile

    tempfile.tempdir = scratch


_NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request", "ftplib.connect",
    "smtplib.connect", "http.client.connect", "webbrowser.open",
})
_BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn",
    "os.chroot", "os.setxattr",
}) | _NETWORK_EVENTS
_PATH_EVENTS = {
    "os.remove": 0, "os.rmdir": 0, "os.rename": 0, "os.mkdir": 0, "os.chmod": 0, "os.chown": 0,
    "os.symlink": 1, "os.link": 1, "os.truncate": 0, "os.utime": 0, "shutil.rmtree": 0,
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class AuditGuard:
    """Audit hook that refuses dangerous operations and remembers the first one tried.

    ``violation``: the first refused process/signal/write operation (the render is ``forbidden``
    whatever the program does next). ``network``: the first refused network call; a program that
    catches it and still draws its figure is fine (``forbidden`` only when the program dies).
    """

    def __init__(self, scratch: str):
        self.scratch = os.path.realpath(scratch)
        self.violation: str | None = None
        self.network: str | None = None

    def _inside(self, path: object) -> bool:
        if isinstance(path, int):
            return True  # operations on already-open descriptors
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return False
        if path == "/dev/null":
            return True
        real = os.path.realpath(path)
        return real == self.scratch or real.startswith(self.scratch + os.sep)

    def _refuse(self, what: str, network: bool = False) -> None:
        if network:
            self.network = self.network or what
        elif self.violation is None:
            self.violation = what
        raise ForbiddenOperation(f"sandbox: {what} is not allowed")

    def reset(self) -> None:
        self.violation = self.network = None

    def __call__(self, event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            self._refuse(event, event in _NETWORK_EVENTS)
        elif event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and not self._inside(path):
                self._refuse(f"writing {path!r}")
        elif event in _PATH_EVENTS:
            idx = _PATH_EVENTS[event]
            if len(args) > idx and not self._inside(args[idx]):
                self._refuse(f"{event} on {args[idx]!r}")


def close_inherited_fds(keep: set[int], view: FsView | None) -> None:
    """Close every descriptor but ``keep``, except read-only regular files inside the view's binds
    (matplotlib's open font files: the program could open them anyway). Needs /proc (call first)."""
    roots = [p for p, _ in view.binds] if view is not None else []
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd in keep:
            continue
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            read_only = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
            if read_only and stat.S_ISREG(os.fstat(fd).st_mode) and any(
                    target == r or target.startswith(r.rstrip("/") + "/") for r in roots):
                continue
            os.close(fd)
        except OSError:
            pass


def enter_sandbox(cfg: SandboxConfig, base_vsize: int, fallback_scratch: str,
                  layers: Layers, view: FsView | None = None,
                  keep_fds: set[int] | None = None) -> tuple[str, Layers, AuditGuard]:
    """Isolate the current process, a child from ``fork_isolated``. Returns (scratch, layers, guard).

    Call only in that child: it changes mounts, uid and limits for good.
    """
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    close_inherited_fds({0, 1, 2} | (keep_fds or set()), view)
    if not layers.netns and os.getuid() == 0:  # no clone with namespaces: try them one by one
        layers.netns = _unshare(CLONE_NEWNET)
        layers.mountns = _unshare(CLONE_NEWNS)
    scratch = fallback_scratch
    lookup_user(cfg.drop_to_user)
    _isolate_filesystem(layers, scratch, view, max(64, cfg.file_size_mb * 4))
    os.chdir(scratch)
    _set_rlimits(cfg, base_vsize)
    _drop_privileges(cfg, layers, scratch)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        layers.no_new_privs = True
    layers.no_caps = drop_capabilities()
    _scrub_environment(scratch)
    guard = AuditGuard(scratch)
    sys.addaudithook(guard)
    layers.audit_hook = True
    return scratch, layers, guard


def current_vsize() -> int:
    """Virtual memory size of this process in bytes (the base for RLIMIT_AS)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def enter_browser_sandbox(view: FsView | None, scratch: str, scratch_mb: int = 512) -> list[str]:
    """Put the calling process (the table browser's worker, before it starts anything) in new
    network and mount namespaces (and a user namespace as non-root) and pivot into ``view``, with
    ``scratch`` the only writable place. Returns the layers applied."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWNS | (0 if uid == 0 else CLONE_NEWUSER)
    if not _unshare(flags):
        if uid != 0 and not USERNS_REFUSED:
            USERNS_REFUSED["reason"] = f"unshare(CLONE_NEWUSER): {os.strerror(ctypes.get_errno())}"
            log.warning("table browser sandbox DEGRADED: the kernel refused a user namespace (%s); the browser "
                        "runs with request blocking only, seeing the whole filesystem", USERNS_REFUSED["reason"])
        return ["netns"] if enter_network_namespace() else []
    layers = ["netns", "mountns"] + ([] if uid == 0 else ["userns"])
    if uid != 0:
        _map_own_ids(uid, gid)
    if view is not None:
        try:
            # no PID namespace here: its /proc lists the host's processes (Chromium needs one)
            layers += [{"private_proc": "proc_host_pids"}.get(x, x) for x in view.enter(scratch, scratch, scratch_mb)]
        except OSError as e:
            log.warning("table browser: filesystem view failed (%s); it sees the host filesystem", e)
    os.chdir(scratch)
    return layers


def enter_network_namespace() -> bool:
    """Put the calling process (e.g. a browser worker) in a fresh network namespace."""
    if os.getuid() == 0:
        return _unshare(CLONE_NEWNET)
    return _unshare(CLONE_NEWUSER | CLONE_NEWNET)


__all__ = [
    "AuditGuard", "FsView", "ForbiddenOperation", "Layers", "SandboxConfig", "USERNS_REFUSED",
    "close_inherited_fds", "current_vsize", "drop_capabilities", "enter_browser_sandbox", "fork_isolated",
    "seed_random",
    "enter_network_namespace", "enter_sandbox",
]
