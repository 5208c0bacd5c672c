"""The minimal filesystem a render sees: a read-only tmpfs root holding bind mounts of what it needs.

Computed once per worker (``FsView.for_python`` / ``FsView.for_browser``) and applied in each
sandboxed child (``FsView.enter``), in the mount namespace ``sandbox.fork_isolated`` created, the
way bubblewrap does it: tmpfs → read-only binds of the needed paths → ``/dev`` nodes → a private
``/proc`` → a private scratch tmpfs → ``pivot_root`` → detach the old root → remount ``/``
read-only. What is not bound does not exist for the program: no home directories, no repository
checkout (only the imported package directories of a checkout are bound), no host ``/tmp``, no
``/etc`` beyond fontconfig and the dynamic loader's cache.

Extra paths for unusual clusters (a font directory elsewhere, say) come from the
``VERM_RL_SANDBOX_BIND`` environment variable of the worker (``:``-separated).
"""

from __future__ import annotations

import ctypes
import logging
import os
import site
import sys
import sysconfig
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
MNT_DETACH = 2
_OPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
              "nodiratime": 2048, "relatime": 1 << 21}

DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
# Shared libraries (extension modules load them lazily), fonts for matplotlib/cairo/Chromium,
# fontconfig's configuration and cache, the loader cache and time zone data. Missing ones are skipped.
SYSTEM_PATHS = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
    "/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/fontconfig", "/var/cache/fontconfig",
    "/etc/fonts", "/etc/ld.so.cache", "/usr/share/zoneinfo",
)
# What headless Chromium needs on top (its binary and resources, certificates are not needed).
BROWSER_PATHS = ("/usr/bin", "/bin", "/usr/share", "/etc/chromium", "/etc/chromium.d", "/etc/alternatives")

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    if _libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _mount_table() -> list[tuple[str, int]]:
    """(mount point, flags that must be kept on a read-only remount) for every visible mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _OPT_FLAGS.get(opt, 0)
            out.append((point, flags))
    return out


def _flags_for(path: str, table: list[tuple[str, int]]) -> int:
    """Flags of the mount that holds ``path`` (the longest mount point above it)."""
    best, flags = "", 0
    for point, f in table:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, flags = point, f
    return flags


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass
class FsView:
    """Read-only binds (same path inside as outside), symlinks to recreate, device nodes."""

    binds: list[tuple[str, int]] = field(default_factory=list)  # (real path, mount flags to keep)
    submounts: list[tuple[str, int]] = field(default_factory=list)  # mounts below a bound path
    symlinks: list[tuple[str, str]] = field(default_factory=list)  # (path, link target)
    devices: tuple[str, ...] = DEVICES
    proc: bool = True
    host_proc_fallback: bool = False  # bind the host's /proc when a private one cannot be mounted
    @classmethod
    def from_paths(cls, paths: list[str]) -> FsView:
        links: dict[str, str] = {}
        real: set[str] = set()
        todo = [os.path.abspath(p) for p in paths]
        seen = 0
        while todo and seen < 1000:
            seen += 1
            path = todo.pop()
            parts = [p for p in path.split("/") if p]
            cur = ""
            for i, part in enumerate(parts):
                nxt = f"{cur}/{part}"
                if os.path.islink(nxt):
                    links[nxt] = os.readlink(nxt)
                    rest = "/".join(parts[i + 1:])
                    target = os.path.realpath(nxt)
                    todo.append(f"{target}/{rest}" if rest else target)
                    break
                cur = nxt
            else:
                if cur and os.path.exists(cur):
                    real.add(cur)
        kept = sorted(p for p in real if not any(q != p and _under(p, q) for q in real))
        table = _mount_table()
        kept_links = sorted((p, t) for p, t in links.items() if not any(_under(p, q) for q in kept))
        subs = sorted((point, f) for point, f in table for p in kept if point != p and _under(point, p))
        return cls(binds=[(p, _flags_for(p, table)) for p in kept], symlinks=kept_links, submounts=subs)

    @classmethod
    def for_python(cls, extra: tuple[str, ...] = ()) -> FsView:
        """The interpreter's stdlib and site-packages, the imported packages of other sys.path
        entries (e.g. a checkout on PYTHONPATH: its package directories only), system libraries, fonts."""
        paths = [*python_paths(), *SYSTEM_PATHS, *extra, *_env_paths()]
        return cls.from_paths([p for p in paths if os.path.exists(p)])

    @classmethod
    def for_browser(cls, chromium: str | None, extra: tuple[str, ...] = ()) -> FsView:
        paths = [*python_paths(), *SYSTEM_PATHS, *BROWSER_PATHS, *extra, *_env_paths()]
        if chromium:
            paths += [chromium, os.path.dirname(os.path.realpath(chromium))]
        view = cls.from_paths([p for p in paths if os.path.exists(p)])
        view.host_proc_fallback = True  # Chromium needs a /proc; without a PID namespace it gets the host's
        return view

    def describe(self) -> list[str]:
        """What a render can see, for logs and the README."""
        return ([p for p, _ in self.binds] + [f"{p} -> {t}" for p, t in self.symlinks]
                + list(self.devices) + (["/proc (private)"] if self.proc else []))

    def enter(self, new_root: str, scratch: str, scratch_mb: int = 256) -> list[str]:
        """Build the view on ``new_root`` (an empty directory) and pivot into it. Call only in a
        child in its own mount namespace (and PID namespace, for /proc). Returns layer names."""
        layers = []
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for path, keep in self.binds:
            target = new_root + path
            if os.path.isdir(path):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()
            # recursive: a user namespace refuses to bind a tree without the mounts locked below it
            _mount(path, target, None, MS_BIND | MS_REC)
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | keep)
        for point, keep in self.submounts:  # and those read-only too
            _mount(None, new_root + point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | keep)
        for path, dest in self.symlinks:
            os.makedirs(os.path.dirname(new_root + path), exist_ok=True)
            os.symlink(dest, new_root + path)
        os.makedirs(new_root + "/dev", exist_ok=True)
        for dev in self.devices:
            if os.path.exists(dev):
                open(new_root + dev, "a").close()
                _mount(dev, new_root + dev, None, MS_BIND)
        os.symlink("/proc/self/fd", new_root + "/dev/fd")
        if self.proc:
            os.makedirs(new_root + "/proc")
            try:
                _mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                layers.append("private_proc")
            except OSError as e:
                log.debug("no private /proc: %s", e)
                if self.host_proc_fallback:
                    _mount("/proc", new_root + "/proc", None, MS_BIND | MS_REC)
                    layers.append("host_proc")
        os.makedirs(new_root + scratch, exist_ok=True)
        _mount("tmpfs", new_root + scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=0777")
        layers.append("private_tmp")
        old = new_root + "/.old_root"
        os.makedirs(old)
        if _libc.syscall(155, new_root.encode(), old.encode()) != 0:  # pivot_root (x86-64)
            err = ctypes.get_errno()
            raise OSError(err, f"pivot_root: {os.strerror(err)}")
        os.chdir("/")
        if _libc.umount2(b"/.old_root", MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"detaching the old root: {os.strerror(err)}")
        os.rmdir("/.old_root")
        _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        layers += ["fs_view", "read_only_root"]
        return layers


def python_paths() -> list[str]:
    """Interpreter paths a warm worker's children need, from this process's sys.path."""
    stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    user_site = site.getusersitepackages()
    sites = set(site.getsitepackages()) | stdlib | ({user_site} if user_site in sys.path else set())
    dynload = [p for p in sys.path if p.endswith("lib-dynload")]
    out = sorted(p for p in sites | set(dynload) if p and os.path.isdir(p))
    real_sites = [os.path.realpath(p) for p in out]
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue  # '' is the cwd, which becomes the scratch dir
        if any(_under(os.path.realpath(entry), s) for s in real_sites):
            continue
        out += _imported_packages_under(entry)  # e.g. a checkout on PYTHONPATH
    return out + _packages_outside([os.path.realpath(p) for p in out])


def _packages_outside(roots: list[str]) -> list[str]:
    """Top-level package directories of imported modules found under none of ``roots`` (an
    editable install's finder maps a package to a checkout that is not on sys.path)."""
    found = set()
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if not isinstance(file, str) or not os.path.isabs(file):
            continue
        path = os.path.realpath(file)
        if any(_under(path, r) for r in roots):
            continue
        depth = name.count(".") + (1 if os.path.basename(path).startswith("__init__.") else 0)
        top = path
        for _ in range(depth + 1):
            top = os.path.dirname(top)
        top_name = name.split(".")[0]
        candidate = os.path.join(top, top_name)
        if os.path.isdir(candidate) and _under(path, candidate):
            found.add(candidate)
    return sorted(found)


def _imported_packages_under(entry: str) -> list[str]:
    """Directories (or files) of the top-level modules already imported from ``entry``."""
    real = os.path.realpath(entry)
    found = set()
    for mod in list(sys.modules.values()):
        file = getattr(mod, "__file__", None)
        if not isinstance(file, str):
            continue
        path = os.path.realpath(file)
        if not _under(path, real) or path == real:
            continue
        top = path[len(real):].lstrip("/").split("/")[0]
        found.add(os.path.join(entry, top))
    return sorted(found)


def _env_paths() -> list[str]:
    return [p for p in os.environ.get("VERM_RL_SANDBOX_BIND", "").split(":") if p]


__all__ = ["FsView", "python_paths"]
