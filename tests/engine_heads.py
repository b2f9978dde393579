"""A test head shared by the engine tests and the subprocesses they start.

``CountingKNN`` is the kNN head that appends a line to
``$TRANSFER_TEST_FIT_LOG`` on every fit, kills its own process with SIGKILL
when that file reaches ``$TRANSFER_TEST_KILL_AT`` lines (a run killed
mid-way), and raises a ValueError on the fit numbered
``$TRANSFER_TEST_FAIL_AT`` (a failing cell).
"""

from __future__ import annotations

import os
import signal

from transfer._registry import HEADS
from transfer.heads.classifiers import KNNHead


class CountingKNN(KNNHead):
    """kNN that logs its fits (see the module docstring)."""

    def fit(self, X, y):
        log = os.environ.get("TRANSFER_TEST_FIT_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{len(X)}\n")
            with open(log) as f:
                n = sum(1 for _ in f)
            kill_at = os.environ.get("TRANSFER_TEST_KILL_AT")
            if kill_at and n >= int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)
            if n == int(os.environ.get("TRANSFER_TEST_FAIL_AT", "0")):
                raise ValueError("planned failure")
        return super().fit(X, y)


if "counting_knn" not in HEADS:
    HEADS.register("counting_knn")(CountingKNN)
