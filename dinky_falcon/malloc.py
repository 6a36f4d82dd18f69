"""glibc's malloc set for a server whose requests may be megabytes: memory goes back after them."""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
# Blocks from this size up are mapped on their own and unmapped when freed. glibc's default
# starts at 128 KiB but rises to the largest block freed (up to 32 MiB), so after one large
# request its buffers are carved from the heap and arenas of each worker thread, and stay
# there, held for good (figures in bench/RESULTS.md). A fixed threshold
# keeps the default's size without the rise.
MMAP_THRESHOLD = 128 * 1024


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold (see MMAP_THRESHOLD); False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to set
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
