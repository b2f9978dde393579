"""One BLAS thread for loops of small matrix operations.

Threaded BLAS on many small products (a Cholesky per class, separable
filters per image) spends more time handing work between threads than
computing, and far more when other processes share the cores; a loop of
such calls runs faster on one thread.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@functools.cache
def _controller() -> Any:
    # Built on first use (it inspects the loaded libraries, a few ms); then
    # each limit costs about 0.1 ms instead of threadpool_limits' 5 ms.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Context manager: BLAS/LAPACK calls inside run on one thread."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
