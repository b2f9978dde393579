"""Speed of Joint Bayesian training and scoring against a per-identity loop.

Each row times, in one process and on the same synthetic LFW-sized data
(about 4,000 identities and 13,000 images, identity sizes drawn from a
truncated power law like LFW's: two thirds with a single image, a long tail
up to 530), the same number of EM iterations and the scoring of the same
pairs through

- ``transfer``: :class:`transfer.heads.verification.JointBayesian`, whose EM
  works in the joint eigenbasis of the two covariances (no loop over
  identities) and scores pairs with two matrix products;
- the reference: the E-step of Chen et al. (ECCV 2012, Sec. 3.3) written as
  a loop over identities, with ``F`` and ``G`` computed once per identity
  size ``m`` and cached, the M-step with the posterior covariances (so both
  compute the same exact EM), and a loop over pairs for the scores.

The learned scores are checked equal (relative 1e-6) before the times are
reported. Both run a fixed number of iterations (``tol=0``), so the fit times
compare the same work: 10 at 500 dimensions; the reference's E-step costs
minutes per iteration at 2,000 dimensions, hence one iteration there by
default. Each row reports the fit (EM, from the centred images to ``A`` and
``G``), the scoring of the pairs, and the two together (end to end), each
with its ratio.

Run with ``python benchmarks/bench_joint_bayesian.py`` (about 6 minutes on 2
cores); ``--json PATH`` and ``--markdown PATH`` write the results, ``--quick``
runs a small version (fewer identities and dimensions, under a minute).
``--threads`` caps the BLAS threads; on a shared machine ``--clock cpu``
times with the process CPU clock, which other jobs do not inflate, and
``--threads 1`` keeps BLAS threads from spinning while they wait.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from unittest import mock

import numpy as np
from threadpoolctl import threadpool_limits

import transfer.heads.verification.joint_bayesian as jbm
from transfer.heads.verification import JointBayesian


def lfw_like_sizes(n_ids: int = 4000, alpha: float = 2.1, largest: int = 530, seed: int = 0):
    """Images per identity: P(m) proportional to m**-alpha for m = 1..largest."""
    m = np.arange(1, largest + 1)
    p = m**-alpha
    return np.random.default_rng(seed).choice(m, size=n_ids, p=p / p.sum())


def synthetic_identities(d: int, sizes: np.ndarray, seed: int = 0):
    """Features ``mu + eps`` with power-law spectra and unrelated eigenbases."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    spec = 1.0 / np.arange(1, d + 1) ** 0.8
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mu = rng.normal(size=(len(sizes), d)) * np.sqrt(spec)
    eps = (rng.normal(size=(len(y), d)) * np.sqrt(0.5 * spec)) @ q.T
    X = mu[y] + eps
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def reference_em(X: np.ndarray, y: np.ndarray, max_iter: int, tol: float, reg: float):
    """Exact JB EM with the paper's per-identity E-step (a Python loop).

    ``X`` is centred. Same initialisation, ridge and stopping rule as
    :func:`transfer.heads.verification.joint_bayesian_em`; returns
    ``S_mu, S_eps, n_iter``.
    """
    n, d = X.shape
    labels = np.unique(y)
    rows = [np.flatnonzero(y == k) for k in labels]
    n_ids = len(rows)
    eye = np.eye(d)
    ridge = reg * np.trace(X.T @ X) / (n * d) * eye
    S_mu = np.zeros((d, d))
    S_w = np.zeros((d, d))
    for r in rows:
        mean = X[r].mean(axis=0)
        S_mu += np.outer(mean, mean)
        if len(r) > 1:
            dev = X[r] - mean
            S_w += dev.T @ dev
    S_mu = S_mu / n_ids + ridge
    S_eps = S_w / (n - n_ids) + ridge
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        F = np.linalg.inv(S_eps)
        cache: dict[int, tuple] = {}
        seen: dict[int, int] = {}
        mus = np.empty((n_ids, d))
        eps = np.empty((n, d))
        for i, r in enumerate(rows):
            m = len(r)
            if m not in cache:
                G = -np.linalg.inv(m * S_mu + S_eps) @ S_mu @ F
                to_mu = S_mu @ (F + m * G)
                # posterior covariance of mu: S_mu - m S_mu (m S_mu + S_eps)^-1 S_mu
                cache[m] = (to_mu, S_eps @ G, S_mu - m * to_mu @ S_mu)
            to_mu, to_eps, _ = cache[m]
            seen[m] = seen.get(m, 0) + 1
            s = X[r].sum(axis=0)
            mus[i] = to_mu @ s
            eps[r] = X[r] + to_eps @ s
        C_mu = sum(k * cache[m][2] for m, k in seen.items())
        C_eps = sum(k * m * cache[m][2] for m, k in seen.items())
        new_mu = mus.T @ mus / n_ids + C_mu / n_ids
        new_eps = eps.T @ eps / n + C_eps / n
        new_mu = (new_mu + new_mu.T) / 2 + ridge
        new_eps = (new_eps + new_eps.T) / 2 + ridge
        change = max(
            np.linalg.norm(new_mu - S_mu) / np.linalg.norm(S_mu),
            np.linalg.norm(new_eps - S_eps) / np.linalg.norm(S_eps),
        )
        S_mu, S_eps = new_mu, new_eps
        if change < tol:
            break
    return S_mu, S_eps, n_iter


def reference_ratio_matrices(S_mu: np.ndarray, S_eps: np.ndarray):
    """``A`` and ``G`` of the paper, from the inverse of the same-pair covariance."""
    d = len(S_mu)
    joint = np.block([[S_mu + S_eps, S_mu], [S_mu, S_mu + S_eps]])
    inv = np.linalg.inv(joint)
    F_plus_G, G = inv[:d, :d], inv[:d, d:]
    A = np.linalg.inv(S_mu + S_eps) - F_plus_G
    return A, G


def reference_scores(A: np.ndarray, G: np.ndarray, X1: np.ndarray, X2: np.ndarray):
    """``r(x1, x2) = x1'Ax1 + x2'Ax2 - 2 x1'Gx2``, one pair at a time."""
    return np.array([a @ A @ a + b @ A @ b - 2 * a @ G @ b for a, b in zip(X1, X2, strict=True)])


def _plain_em(X, identities, max_iter, tol, reg):
    """``max_iter`` exact EM steps of the toolkit's vectorised E-step, no acceleration.

    Plain EM steps (``expand=False``): the parameter-expanded step the fit
    takes by default moves elsewhere than the reference's step.

    Starts where :func:`reference_em` starts (scatter of the identity means,
    pooled within-identity covariance); same signature and return as
    :func:`transfer.heads.verification.joint_bayesian.joint_bayesian_em`.
    """
    st = jbm._statistics(X, identities, reg)
    S_mu = st.between / st.n_ids + st.ridge
    S_eps = st.S_w / (st.n - st.n_ids) + st.ridge
    for _ in range(max_iter):
        (S_mu, S_eps), _ = jbm._em_step(st, S_mu, S_eps, expand=False)
    return S_mu, S_eps, max_iter, True


def _fit_reference(X, y, iters, reg):
    mean = X.mean(axis=0)
    S_mu, S_eps, _ = reference_em(X - mean, y, iters, 0.0, reg)
    A, G = reference_ratio_matrices(S_mu, S_eps)
    return mean, A, G


def _row(d: int, sizes: np.ndarray, iters: int, n_pairs: int, clock, reg: float = 1e-6):
    X, y = synthetic_identities(d, sizes)
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, len(X), size=(2, n_pairs))
    X1, X2 = X[i], X[j]

    # the head's own fit and scoring around ``iters`` plain (unaccelerated)
    # exact EM steps from the reference's start: the per-step cost is what
    # this benchmark compares (bench_verification.py times both EMs to
    # convergence, SQUAREM included)
    with mock.patch.object(jbm, "joint_bayesian_em", _plain_em):
        t0 = clock()
        jb = JointBayesian(max_iter=iters, tol=0.0, reg=reg).fit_identities(X, y)
        t_fit = clock() - t0
    t0 = clock()
    ours = jb.score_pairs(X1, X2)
    t_score = clock() - t0

    t0 = clock()
    mean, A, G = _fit_reference(X, y, iters, reg)
    r_fit = clock() - t0
    t0 = clock()
    ref = reference_scores(A, G, X1 - mean, X2 - mean)
    r_score = clock() - t0

    err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
    assert err < 1e-6, f"scores differ: max relative error {err:.2e} at d={d}"
    return {
        "dims": d,
        "images": len(X),
        "identities": len(sizes),
        "em_iters": iters,
        "pairs": n_pairs,
        "fit_transfer_s": t_fit,
        "fit_loop_s": r_fit,
        "fit_speedup": r_fit / t_fit,
        "score_transfer_s": t_score,
        "score_loop_s": r_score,
        "score_speedup": r_score / t_score,
        "total_transfer_s": t_fit + t_score,
        "total_loop_s": r_fit + r_score,
        "total_speedup": (r_fit + r_score) / (t_fit + t_score),
        "max_rel_score_diff": err,
    }


def markdown(meta: dict, rows: list[dict]) -> str:
    lines = [
        f"# Joint Bayesian benchmark ({meta['machine']}, {meta['threads']} BLAS threads, "
        f"{meta['clock']} clock)",
        "",
        f"{meta['identities']} identities, {meta['images']} images, {meta['singletons']} with "
        f"one image, largest {meta['largest']}, {meta['distinct_sizes']} distinct sizes; "
        f"EM iterations fixed (tol=0), same for both.",
        "",
        "| dims | EM iters | pairs | fit: transfer (s) | fit: loop (s) | fit speed-up "
        "| score: transfer (s) | score: loop (s) | score speed-up "
        "| end to end: transfer (s) | end to end: loop (s) | end-to-end speed-up "
        "| max rel. score diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dims']} | {r['em_iters']} | {r['pairs']} "
            f"| {r['fit_transfer_s']:.2f} | {r['fit_loop_s']:.2f} | {r['fit_speedup']:.1f}x "
            f"| {r['score_transfer_s']:.3f} | {r['score_loop_s']:.3f} "
            f"| {r['score_speedup']:.1f}x "
            f"| {r['total_transfer_s']:.2f} | {r['total_loop_s']:.2f} "
            f"| {r['total_speedup']:.1f}x | {r['max_rel_score_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=None, help="default 500 2000")
    parser.add_argument("--identities", type=int, default=None, help="default 4000")
    parser.add_argument(
        "--iters", type=int, nargs="+", default=None, help="EM iterations, per dims entry (10 1)"
    )
    parser.add_argument("--pairs", type=int, default=None, help="pairs scored (default 3000)")
    # one BLAS thread and process CPU time by default: on a shared machine,
    # idle BLAS threads spinning on busy cores dominate wall-clock timings
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="cpu", help="timer (default: process CPU time)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run (1000 identities, 100 and 300 dims, 3 iterations): under a minute",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    args = parser.parse_args(argv)
    defaults = (
        {"dims": [100, 300], "identities": 1000, "iters": [3], "pairs": 1000}
        if args.quick
        else {"dims": [500, 2000], "identities": 4000, "iters": [10, 1], "pairs": 3000}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    iters = (args.iters * len(args.dims))[: len(args.dims)] if len(args.iters) == 1 else args.iters
    sizes = lfw_like_sizes(args.identities)
    rows = []
    with threadpool_limits(args.threads):
        for d, k in zip(args.dims, iters, strict=True):
            rows.append(_row(d, sizes, k, args.pairs, clock))
    meta = {
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "clock": args.clock,
        "quick": args.quick,
        "identities": len(sizes),
        "images": int(sizes.sum()),
        "singletons": int((sizes == 1).sum()),
        "largest": int(sizes.max()),
        "distinct_sizes": len(np.unique(sizes)),
    }
    table = markdown(meta, rows)
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table)
    result = {"meta": meta, "rows": rows}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
