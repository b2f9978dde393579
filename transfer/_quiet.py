"""Keep TensorFlow's start-up notices off stderr, from the entry points only.

Importing TensorFlow 2.21 on a CPU machine prints, on file descriptor 2::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. ... `TF_ENABLE_ONEDNN_OPTS=0`.
    I0000 ... cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use ...
    To enable the following instructions: AVX2 AVX512F ..., rebuild TensorFlow with ...

(the first two lines twice); converting a model to TensorFlow Lite adds a
dozen ``I``/``W`` lines (``reader.cc``, ``loader.cc``, ``flatbuffer_export.cc``)
and its interpreter ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``
``TF_CPP_MIN_LOG_LEVEL=2``, set before TensorFlow is imported, silences the
cpu_feature_guard and conversion lines only: the absl banner and the oneDNN
line are written before absl's logging is initialised, and TFLite's own
logger reads no variable. Turning oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``)
would change the numbers and the speed, so instead :func:`notices_dropped`
points file descriptor 2 at a temporary file around the few calls that
print them (``import tensorflow`` in :func:`import_tensorflow`, the TFLite
conversion), then writes back every line that is not such an ``I``/``W``/
``INFO:`` notice: errors, Python warnings and tracebacks stay visible.

Nothing here runs at import: the command line calls :func:`quiet_tensorflow`
when it starts, and the library's lazy model builders call
:func:`import_tensorflow`, which is quiet unless the ``transfer`` logger is
at INFO or DEBUG (``transfer -v``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

__all__ = [
    "import_tensorflow",
    "is_notice",
    "library_verbose",
    "notices_dropped",
    "quiet_tensorflow",
]

#: Environment read by TensorFlow (and gRPC) when they load, set only when unset.
QUIET_ENVIRONMENT = {
    # C++ INFO and WARNING lines after start-up (cpu_feature_guard, TFLite conversion)
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # gRPC, when a TensorFlow build links it, logs through absl the same way
    "GRPC_VERBOSITY": "ERROR",
}

# An absl/glog line below ERROR ("I0000 00:00:1796041573.139498    5317 port.cc:153] ..."),
# a TFLite INFO line, absl's pre-initialisation banner, and the second line of
# cpu_feature_guard's notice.
_NOTICE = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] "
    r"|INFO: "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate)"
)


def library_verbose() -> bool:
    """Whether the ``transfer`` logger shows INFO (``transfer -v``, or an application's own
    ``logging`` set-up): then TensorFlow's notices are left alone."""
    return logging.getLogger("transfer").isEnabledFor(logging.INFO)


def quiet_tensorflow(verbose: bool = False) -> None:
    """Ask TensorFlow, before it is imported, to log errors only.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``GRPC_VERBOSITY=ERROR`` unless they
    are set already (a user's own choice wins), and the level of the
    ``tensorflow`` Python logger to ERROR unless it has one. Idempotent. The
    variables only act if TensorFlow is imported afterwards, in this process
    or its children; the notices no variable controls are dropped by
    :func:`import_tensorflow`.

    Parameters
    ----------
    verbose : bool, default=False
        Leave everything as it is (TensorFlow then logs what it usually does).
    """
    if verbose:
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:
        tf_logger.setLevel(logging.ERROR)


def is_notice(line: str) -> bool:
    """Whether a stderr line is one of TensorFlow's start-up notices (INFO or WARNING)."""
    return _NOTICE.match(line) is not None


@contextlib.contextmanager
def notices_dropped(verbose: bool | None = None) -> Iterator[None]:
    """Drop TensorFlow's notices (:func:`is_notice`) from stderr inside the block.

    File descriptor 2 points at a temporary file in the block (so that C++
    lines are caught too); on leaving, every other line is written back to
    ``sys.stderr``. Use it narrowly: output of other threads is delayed to
    the end of the block.

    Parameters
    ----------
    verbose : bool, optional
        Default :func:`library_verbose`; when true, the block runs untouched.
    """
    if library_verbose() if verbose is None else verbose:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (closed, or a replaced sys.stderr)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            kept = "".join(ln for ln in text.splitlines(keepends=True) if not is_notice(ln))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def import_tensorflow(verbose: bool | None = None) -> ModuleType:
    """``import tensorflow``, without its start-up notices unless ``verbose``.

    The first call (when TensorFlow is not imported yet) applies
    :func:`quiet_tensorflow` and imports TensorFlow with file descriptor 2
    redirected, writing back everything but the notices; later calls return
    the module.

    Parameters
    ----------
    verbose : bool, optional
        Default :func:`library_verbose`.

    Returns
    -------
    module
        ``tensorflow``.
    """
    module = sys.modules.get("tensorflow")
    if module is not None:
        return module
    verbose = library_verbose() if verbose is None else verbose
    quiet_tensorflow(verbose)
    if verbose:
        import tensorflow

        return tensorflow
    with notices_dropped(False):
        import tensorflow
    return tensorflow
