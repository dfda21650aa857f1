"""Process-wide settings of the serving process that are not the API's: which allocator Arrow uses, and how
glibc's allocator shares its memory between threads.

Arrow's default pool (jemalloc) keeps the memory a large request used for the next one and gives it back
only on later activity: measured under the load bench, the service's resident memory grew 12-14 % in the
first seconds of a mix of 1,000-record requests and stayed there. On the system allocator (glibc, below),
it grows 1-2 % and the service starts 70 MB smaller.

By default glibc gives each new thread its own malloc arena (up to 8 per core), and an arena keeps the
memory a large request used. The service runs its work in pools of threads (key checks, scoring), so under
load every thread ends up holding its own high-water mark and resident memory climbs with the number of
threads, not with the work. Two arenas shared by all threads keep it flat (the usual `MALLOC_ARENA_MAX=2`
of Python servers), at no measurable cost here: the hot paths allocate in NumPy and LightGBM blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import pyarrow as pa

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def share_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas at `arenas` for the threads created from now on; False where the C library
    is not glibc (nothing is changed there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): no mallopt
        return False
    done = bool(mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))
    if not done:
        logger.warning("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return done


def use_system_allocator() -> None:
    """Arrow allocates from the system allocator (glibc), as the rest of the process does."""
    pa.set_memory_pool(pa.system_memory_pool())
