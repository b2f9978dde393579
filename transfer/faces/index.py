"""A face index of a folder: every face's embedding, saved, reused, refreshed by content.

:class:`FaceIndex` embeds every image file under a folder (recursively;
every face of each image, :func:`transfer.faces.represent` with
``face="all"``) and keeps the result on disk as two files:

``<stem>.npz``
    ``embeddings``: float32 array (n_faces, 128).
``<stem>.json``
    The model and embedding settings, and per file: its path relative to the
    folder, the sha256 of its content, and its faces (box, row in the array).

They live under the cache folder (``$TRANSFER_CACHE/faces/``), named by the
sha256 of the folder's absolute path and the model, or at an explicit
``index_path``: never inside the folder itself (your data folder is not
written to). :meth:`FaceIndex.refresh` lists the folder again and embeds
only the files whose content (sha256) it has not embedded yet: an unchanged
file is not recomputed, a renamed or copied one reuses its rows, a changed
one is recomputed, a removed one leaves the index. The files are written
atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INDEX_VERSION", "FaceIndex", "list_image_files"]

#: Bumped when the index layout or what its rows mean changes.
INDEX_VERSION = 1
_IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".pgm",
    ".bmp",
    ".ppm",
    ".tif",
    ".tiff",
    ".gif",
    ".webp",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder``, recursively, sorted; hidden files and folders skipped.

    A file counts when its extension is an image's, or, without one of those
    extensions, when its header parses as an image (extensionless files of
    classic face databases).
    """
    from transfer.data.decode import check_image_file

    root = Path(folder)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() in _IMAGE_SUFFIXES or check_image_file(path) is None:
                out.append(path)
    return out


Embedder = Callable[[Sequence[str]], list[list[Any]]]


class FaceIndex:
    """Embeddings of every face in a folder's images, kept on disk and refreshed by content.

    Parameters
    ----------
    folder : str or path
        The folder to index (read only).
    model : {"facenet", "dlib"}, default="facenet"
    index_path : str or path, optional
        Where to keep the index (``.npz`` and ``.json`` are added to this
        stem). Default: under ``$TRANSFER_CACHE/faces/``, named by the
        folder's absolute path and the model.
    embed : callable, optional
        ``embed(paths) -> [[FaceEmbedding, ...] per path]``; default
        :func:`transfer.faces.api.embed_images` with ``face="all"`` and the
        no-face fallback off (an image without a face has no rows). For
        tests and other models.
    batch_size : int, default=32
        Files embedded per call of ``embed``.

    Examples
    --------
    >>> from transfer.faces import FaceIndex
    >>> index = FaceIndex("~/Pictures/people")  # doctest: +SKIP
    >>> index.refresh()  # doctest: +SKIP
    {'added': 64, 'changed': 0, 'removed': 0, 'unchanged': 0, 'faces': 71}
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        model: str = "facenet",
        index_path: str | os.PathLike | None = None,
        embed: Embedder | None = None,
        batch_size: int = 32,
    ) -> None:
        from transfer.faces.api import MODELS

        self.folder = Path(folder).expanduser()
        if not self.folder.exists():
            raise FileNotFoundError(f"no such folder: {str(folder)!r}")
        if not self.folder.is_dir():
            raise ValueError(f"{str(folder)!r} is not a folder")
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        self.model = model
        self._embed = embed
        self.batch_size = int(batch_size)
        if index_path is None:
            from transfer._io import default_cache_dir

            key = hashlib.sha256(f"{self.folder.resolve()}\0{model}".encode()).hexdigest()[:24]
            stem = default_cache_dir() / "faces" / f"{key}-{model}"
        else:
            stem = Path(index_path).expanduser()
            stem = stem.with_suffix("") if stem.suffix in (".npz", ".json") else stem
        if stem.resolve().is_relative_to(self.folder.resolve()):
            raise ValueError(
                f"index_path {str(stem)!r} is inside the indexed folder; keep the index elsewhere"
            )
        self.stem = stem
        self.embeddings = np.zeros((0, 0), np.float32)
        #: per file: {"path", "sha256", "faces": [{"row", "box"}]}
        self.files: list[dict[str, Any]] = []
        self._load()

    # -- storage -------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """What the rows depend on: a saved index with other settings is rebuilt."""
        return {
            "version": INDEX_VERSION,
            "model": self.model,
            "embed": "custom" if self._embed is not None else "represent(face='all')",
        }

    def _load(self) -> None:
        meta_path, arr_path = self.stem.with_suffix(".json"), self.stem.with_suffix(".npz")
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(arr_path, allow_pickle=False) as z:
                embeddings = np.asarray(z["embeddings"], np.float32)
        except (OSError, ValueError, KeyError):
            return  # no index yet, or a damaged one: rebuilt by refresh()
        rows = sum(len(f["faces"]) for f in meta.get("files", []))
        if meta.get("settings") != self.settings or rows != len(embeddings):
            return
        self.embeddings = embeddings
        self.files = meta["files"]

    def save(self) -> None:
        """Write the index (atomically: the array first, then the record)."""
        from transfer._io import atomic_write

        buf = io.BytesIO()
        np.savez(buf, embeddings=self.embeddings)
        atomic_write(self.stem.with_suffix(".npz"), lambda f: f.write(buf.getvalue()))
        meta = {
            "settings": self.settings,
            "folder": str(self.folder.resolve()),
            "files": self.files,
        }
        text = json.dumps(meta, indent=1)
        atomic_write(self.stem.with_suffix(".json"), lambda f: f.write(text.encode()))

    # -- refresh ---------------------------------------------------------------
    def _embed_paths(self, paths: Sequence[str]) -> list[list[Any]]:
        if self._embed is not None:
            return self._embed(paths)
        import warnings

        from transfer.align import NoFaceWarning
        from transfer.faces.api import embed_images

        with warnings.catch_warnings():
            # a file without a face simply has no rows in the index
            warnings.simplefilter("ignore", NoFaceWarning)
            faces = embed_images(paths, self.model, face="all", fallback="center")
        return [[f for f in row if f.box is not None] for row in faces]

    def refresh(self) -> dict[str, int]:
        """Bring the index up to date with the folder; save it when anything changed.

        Returns
        -------
        dict
            ``added``, ``changed`` (same path, new content), ``removed`` and
            ``unchanged`` file counts, ``embedded`` (files run through the
            network) and ``faces`` (rows in the index).
        """
        old_rows = {}  # sha256 -> list of (embedding, box)
        old_sha = {}
        for f in self.files:
            old_sha[f["path"]] = f["sha256"]
            old_rows[f["sha256"]] = [(self.embeddings[x["row"]], x["box"]) for x in f["faces"]]
        current = []
        for path in list_image_files(self.folder):
            rel = path.relative_to(self.folder).as_posix()
            current.append((rel, path, _sha256(path)))
        todo = sorted({sha: str(p) for _, p, sha in current if sha not in old_rows}.items())
        fresh: dict[str, list[tuple[np.ndarray, Any]]] = {}
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            for (sha, _), faces in zip(
                chunk, self._embed_paths([p for _, p in chunk]), strict=True
            ):
                fresh[sha] = [
                    (np.asarray(f.embedding, np.float32), None if f.box is None else list(f.box))
                    for f in faces
                ]
        counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0}
        seen = set()
        files, rows = [], []
        for rel, _, sha in current:
            seen.add(rel)
            if rel not in old_sha:
                counts["added"] += 1
            elif old_sha[rel] != sha:
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
            entry = {"path": rel, "sha256": sha, "faces": []}
            for embedding, box in old_rows.get(sha) or fresh.get(sha, []):
                entry["faces"].append({"row": len(rows), "box": box})
                rows.append(embedding)
            files.append(entry)
        counts["removed"] = sum(rel not in seen for rel in old_sha)
        width = rows[0].shape[0] if rows else 0
        self.embeddings = np.stack(rows).astype(np.float32) if rows else np.zeros((0, width))
        changed = counts["added"] or counts["changed"] or counts["removed"]
        self.files = files
        if changed or not self.stem.with_suffix(".json").is_file():
            self.save()
        return {**counts, "embedded": len(todo), "faces": len(rows)}

    # -- search ----------------------------------------------------------------
    def search(
        self,
        query: np.ndarray,
        top_k: int = 5,
        metric: str = "cosine",
        threshold: float | None = None,
    ) -> list[Any]:
        """The ``top_k`` files whose best face is closest to ``query``, best first.

        Parameters
        ----------
        query : ndarray of shape (n_features,)
        top_k : int
        metric : {"cosine", "euclidean"}
        threshold : float, optional
            For ``Match.same`` (False everywhere when None).

        Returns
        -------
        list of transfer.faces.Match
        """
        from transfer.faces.api import Match, _is_same, pair_scores

        if not len(self.embeddings):
            return []
        q = np.broadcast_to(np.asarray(query, np.float64), self.embeddings.shape)
        scores = pair_scores(q, self.embeddings, metric)
        sign = 1.0 if metric == "cosine" else -1.0
        best: dict[str, tuple[float, Any]] = {}
        for f in self.files:
            for face in f["faces"]:
                s = float(scores[face["row"]])
                if f["path"] not in best or sign * s > sign * best[f["path"]][0]:
                    best[f["path"]] = (s, face["box"])
        ranked = sorted(best.items(), key=lambda kv: (-sign * kv[1][0], kv[0]))[:top_k]
        return [
            Match(
                str(self.folder / rel),
                s,
                False if threshold is None else bool(_is_same(s, threshold, metric)),
                None if box is None else tuple(box),
                metric,
            )
            for rel, (s, box) in ranked
        ]

    def __len__(self) -> int:
        return len(self.files)
