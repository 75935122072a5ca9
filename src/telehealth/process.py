"""Process-wide tuning of a serving process: garbage collection and the memory allocator.

Applied once, after the application is built and before it serves (``app.serving_app``);
tests and tools that build the application in-process keep the interpreter's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

from sqlalchemy.orm import configure_mappers

YOUNG_COLLECTION_THRESHOLD = 10_000
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Request bodies reach the application in pieces of up to 1 MiB, and uploads are sealed in
# 1 MiB records. Under glibc's default (128 KiB, raised only as mapped blocks are freed) such
# blocks were often mapped fresh from the kernel and unmapped again, so every received byte
# also cost a page fault: most of a large upload's receiving time. Served from the heap, they
# reuse its pages.
MMAP_THRESHOLD = 4 * 1024 * 1024
# Freed heap memory above this is handed back to the kernel: a process idle after an upload
# keeps at most this much of it.
TRIM_THRESHOLD = 32 * 1024 * 1024


def tune_for_serving() -> None:
    _tune_garbage_collection()
    _tune_allocator()


def _tune_garbage_collection() -> None:
    # Modules, routes, schemas, mappers and templates live as long as the process. Every full
    # collection would walk them again (a few hundred thousand objects, tens of milliseconds);
    # frozen, collections only see what requests allocate.
    configure_mappers()
    gc.collect()
    gc.freeze()
    # Requests' objects are almost all freed by reference counting; at the default threshold
    # (700) the youngest generation, with every in-flight request's state, is walked every
    # few dozen requests for next to nothing.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 10, 10)


def _tune_allocator() -> None:
    """Set glibc's allocation thresholds; nothing happens where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
