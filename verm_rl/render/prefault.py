"""Copy-on-write pre-faulting for forked render children.

A child forked from the warm worker shares its memory; every page a render writes to (reference
counts of matplotlib's objects, allocator pools, caches) is copied on first write, one page fault
at a time — on this VM ~6 µs each, 3,000–7,000 per chart: 15–45 ms per render that an in-process
render does not pay. The worker learns once, in a trusted child that renders its warm-up chart,
which pages a render dirties (``/proc/self/pagemap``: present and now exclusively mapped), and
every spare child breaks copy-on-write on those pages in a few ``madvise(MADV_POPULATE_WRITE)``
calls while it waits for its request (off the render's clock; in the kernel, no fault per page).
Memory contents are unchanged (the kernel copies the pages); only where they live changes.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

PAGE = os.sysconf("SC_PAGE_SIZE")
MADV_POPULATE_WRITE = 23  # Linux >= 5.14
MERGE_GAP_PAGES = 0  # merge only adjacent pages (every extra page populated costs as much as a fault)
_PRESENT, _EXCLUSIVE = 1 << 63, 1 << 56

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

Runs = list[tuple[int, int]]  # (start address, length in bytes)


def writable_private_ranges() -> Runs:
    """(start, length) of this process's private writable mappings (heap, anonymous, data)."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
                continue
            if len(fields) > 5 and fields[5] in ("[stack]", "[vvar]", "[vdso]", "[vsyscall]"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi - lo))
    return out


def exclusive_pages(ranges: Runs) -> set[int]:
    """Addresses of the pages in ``ranges`` that are present and mapped by this process alone."""
    import numpy as np

    pages: set[int] = set()
    with open("/proc/self/pagemap", "rb") as pm:
        for lo, size in ranges:
            pm.seek(lo // PAGE * 8)
            entries = np.frombuffer(pm.read(size // PAGE * 8), dtype=np.uint64)
            wanted = np.uint64(_PRESENT | _EXCLUSIVE)
            hit = np.nonzero((entries & wanted) == wanted)[0]
            pages.update((lo + hit.astype(np.int64) * PAGE).tolist())
    return pages


def to_runs(pages: set[int], gap_pages: int = MERGE_GAP_PAGES) -> Runs:
    runs: list[list[int]] = []
    for p in sorted(pages):
        if runs and p - runs[-1][1] <= gap_pages * PAGE:
            runs[-1][1] = p + PAGE
        else:
            runs.append([p, p + PAGE])
    return [(lo, hi - lo) for lo, hi in runs]


def profile(render: Callable[[], object]) -> Runs:
    """The pages ``render`` dirties in a child forked from this process (``render`` must be trusted
    code: the warm-up chart). Empty when pagemap cannot be read (then nothing is pre-faulted)."""
    try:
        ranges = writable_private_ranges()
    except OSError:
        return []
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            before = exclusive_pages(ranges)
            render()
            # only pages that exist in the parent too (same range list), first touched by the render
            runs = to_runs(exclusive_pages(ranges) - before)
            data = memoryview(json.dumps(runs).encode())
            while data:
                data = data[os.write(w, data):]
        except BaseException:  # noqa: BLE001 - no profile, no pre-faulting
            pass
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    try:
        while chunk := os.read(r, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        return [(int(a), int(b)) for a, b in json.loads(b"".join(chunks))]
    except (ValueError, TypeError):
        return []


def populate(runs: Runs) -> int:
    """Break copy-on-write on ``runs`` now; returns the bytes populated. Ranges that are gone or
    no longer writable are skipped (the call fails, nothing else happens)."""
    done = 0
    for lo, size in runs:
        if _libc.madvise(lo, size, MADV_POPULATE_WRITE) == 0:
            done += size
    return done


__all__ = ["MADV_POPULATE_WRITE", "exclusive_pages", "populate", "profile", "to_runs", "writable_private_ranges"]
