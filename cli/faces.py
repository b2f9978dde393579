"""``transfer verify | represent | find | calibrate``: the face API on the command line.

Each command is a click command of its own, registered on the ``transfer``
group by ``cli/main.py``. Bad input (a missing file, a non-image file, no
face under ``--fallback error``, a threshold for the wrong metric) prints
one line ``error: ...`` naming the file or value and exits with status 2,
as every ``transfer`` command does.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

MODELS = ("facenet", "dlib")
METRICS = ("cosine", "euclidean")
BOX_COLUMNS = ("left", "top", "right", "bottom")

_model_option = click.option(
    "--model",
    type=click.Choice(MODELS),
    default="facenet",
    show_default=True,
    help="Identity network: FaceNet (MTCNN alignment) or dlib's ResNet (dlib's chip).",
)
_metric_option = click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="cosine",
    show_default=True,
    help="Compare embeddings by cosine similarity or Euclidean distance.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Input errors as one line and exit status 2; anything else keeps its traceback."""
    from transfer._quiet import quiet_tensorflow

    quiet_tensorflow()  # before TensorFlow loads, when run outside `transfer`'s group
    try:
        yield
    except (ValueError, FileNotFoundError, KeyError, OSError) as exc:
        # ImageReadError is a ValueError; KeyError would quote its message
        _fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=1))


@click.command(short_help="Do two face photos show the same person (distance, threshold, same).")
@click.argument("image_a", type=click.Path(path_type=Path))
@click.argument("image_b", type=click.Path(path_type=Path))
@_model_option
@_metric_option
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Same when the similarity is >= it (the distance <= it). Default: the shipped "
    "threshold for the model and metric (chosen on LFW View 1 training pairs).",
)
@click.option(
    "--face",
    type=click.Choice(("central", "largest")),
    default="central",
    show_default=True,
    help="Which face of a photo with several.",
)
@click.option(
    "--fallback",
    type=click.Choice(("warn", "center", "error")),
    default="warn",
    show_default=True,
    help="No face found: use the centre crop with a warning, silently, or fail (exit 2).",
)
@click.option(
    "--exit-status",
    is_flag=True,
    help="Exit with status 0 when the faces are the same person, 1 when not.",
)
@_json_option
def verify(
    image_a: Path,
    image_b: Path,
    model: str,
    metric: str,
    threshold: float | None,
    face: str,
    fallback: str,
    exit_status: bool,
    as_json: bool,
) -> None:
    """Whether IMAGE_A and IMAGE_B show the same person.

    Prints the decision, the similarity (or distance), the threshold and
    where it came from. Exit status 0; with --exit-status, 0 for the same
    person and 1 for different people (2 for bad input, always).

    \b
    Examples:
      transfer verify alice1.jpg alice2.jpg
      transfer verify a.jpg b.jpg --model dlib --metric euclidean --threshold 0.6
      transfer verify a.jpg b.jpg --json --exit-status && echo same
    """
    from transfer.faces.api import verify as verify_pair

    with _user_errors():
        result = verify_pair(
            str(image_a),
            str(image_b),
            model,
            metric=metric,
            threshold=threshold,
            face=face,
            fallback=fallback,
        )
    if as_json:
        _echo_json({"image_a": str(image_a), "image_b": str(image_b), **result.to_dict()})
    else:
        what = "cosine similarity" if metric == "cosine" else "euclidean distance"
        op = (">=" if result.same else "<") if metric == "cosine" else "<=" if result.same else ">"
        verdict = "same person" if result.same else "different people"
        click.echo(
            f"{verdict}: {what} {result.score:.3f} {op} threshold {result.threshold:.3f} "
            f"({model}; threshold {result.threshold_source})"
        )
    if exit_status and not result.same:
        sys.exit(1)


def _expand(items: tuple[Path, ...]) -> list[str]:
    """Files as given, folders as their image files (recursive); a missing path is an error."""
    from transfer.faces.index import list_image_files

    out: list[str] = []
    for item in items:
        if not item.exists():
            raise FileNotFoundError(f"no such file or folder: {str(item)!r}")
        if item.is_dir():
            found = list_image_files(item)
            if not found:
                raise ValueError(f"the folder {str(item)!r} holds no image files")
            out.extend(str(p) for p in found)
        else:
            out.append(str(item))
    return out


@click.command(short_help="Face embeddings of image files, written to .npz or .parquet.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the embeddings to this .npz or .parquet file.",
)
@_model_option
@click.option(
    "--face",
    type=click.Choice(("central", "largest", "all")),
    default="all",
    show_default=True,
    help="Which faces of each image: every face, or one.",
)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@_json_option
def represent(
    inputs: tuple[Path, ...],
    out: Path | None,
    model: str,
    face: str,
    batch_size: int,
    as_json: bool,
) -> None:
    """Embed the faces of image FILES and FOLDERS (their images, recursively).

    One row per face: the file, the face's number in it, its box (left,
    top, right, bottom; NaN when no face was found and the centre crop was
    embedded) and the 128-d embedding. The .npz holds arrays `embeddings`,
    `paths`, `faces`, `boxes`; the .parquet a table with columns path, face,
    left, top, right, bottom, e0..e127.

    \b
    Examples:
      transfer represent photos/ --out emb.npz
      transfer represent a.jpg b.jpg --model dlib --face central --out emb.parquet
      transfer represent a.jpg --json
    """
    import numpy as np

    from transfer.faces.api import embed_images

    if out is None and not as_json:
        raise click.UsageError("give --out FILE (.npz or .parquet) or --json")
    if out is not None and out.suffix not in (".npz", ".parquet"):
        _fail(f"--out {str(out)!r}: the file must end in .npz or .parquet")
    rows = []
    with _user_errors():
        paths = _expand(inputs)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            for path, faces in zip(chunk, embed_images(chunk, model, face=face), strict=True):
                rows.extend((path, k, f) for k, f in enumerate(faces))
    E = np.stack([f.embedding for _, _, f in rows]).astype(np.float32)
    boxes = np.array(
        [f.box if f.box is not None else (np.nan,) * 4 for _, _, f in rows], dtype=np.float64
    )
    if out is not None:
        with _user_errors():
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.suffix == ".npz":
                np.savez(
                    out,
                    embeddings=E,
                    paths=np.array([p for p, _, _ in rows]),
                    faces=np.array([k for _, k, _ in rows]),
                    boxes=boxes,
                    model=np.array(model),
                )
            else:
                import pandas as pd

                table = pd.DataFrame(
                    {
                        "path": [p for p, _, _ in rows],
                        "face": [k for _, k, _ in rows],
                        **{
                            c: boxes[:, i] for i, c in enumerate(("left", "top", "right", "bottom"))
                        },
                        **{f"e{i}": E[:, i] for i in range(E.shape[1])},
                    }
                )
                table.to_parquet(out, index=False)
    if as_json:
        _echo_json([{**f.to_dict(), "source": p, "face": k} for p, k, f in rows])
    else:
        n_files = len({p for p, _, _ in rows})
        click.echo(f"{len(rows)} face(s) from {n_files} file(s) ({model}) -> {out}")


@click.command(short_help="Rank the faces of a folder or index by similarity to an image.")
@click.argument("image", type=click.Path(path_type=Path))
@click.argument("folder", type=click.Path(path_type=Path))
@_model_option
@_metric_option
@click.option("--top-k", type=click.IntRange(1), default=5, show_default=True)
@click.option(
    "--threshold", type=float, default=None, help="For the 'same' column (default: shipped)."
)
@click.option(
    "--index",
    "index_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep FOLDER's index here (default: under the cache folder, never in FOLDER).",
)
@_json_option
def find(
    image: Path,
    folder: Path,
    model: str,
    metric: str,
    top_k: int,
    threshold: float | None,
    index_path: Path | None,
    as_json: bool,
) -> None:
    """The images of FOLDER whose faces look most like the face in IMAGE.

    FOLDER is indexed on first use (every face of every image, recursively)
    and the index is refreshed when files change (by content: unchanged
    files are not embedded again).

    \b
    Examples:
      transfer find query.jpg photos/
      transfer find query.jpg photos/ --top-k 10 --json
    """
    from transfer.faces.api import find as find_faces

    with _user_errors():
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {str(folder)!r}")
        matches = find_faces(
            str(image),
            str(folder),
            model,
            top_k=top_k,
            metric=metric,
            threshold=threshold,
            index_path=index_path,
        )
    if as_json:
        _echo_json([m.to_dict() for m in matches])
        return
    for rank, m in enumerate(matches, 1):
        click.echo(f"{rank:>3}  {m.score:.3f}  {'same' if m.same else '    '}  {m.path}")


def read_pairs_csv(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs and labels of a CSV with columns path_a, path_b, same (header required).

    Relative paths are taken from the CSV file's folder.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    need = {"path_a", "path_b", "same"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise ValueError(
            f"{str(path)!r}: the first line must name the columns path_a,path_b,same; "
            f"got {reader.fieldnames}"
        )
    base = path.parent
    pairs, labels = [], []
    for row in reader:
        a, b = (Path(row[k]) for k in ("path_a", "path_b"))
        pairs.append(tuple(str(p if p.is_absolute() else base / p) for p in (a, b)))
        labels.append(row["same"])
    if not pairs:
        raise ValueError(f"{str(path)!r} holds no pairs")
    return pairs, labels


@click.command(short_help="Fit a verification threshold on your own labelled pairs.")
@click.argument("pairs_csv", type=click.Path(path_type=Path))
@_model_option
@_metric_option
@_json_option
def calibrate(pairs_csv: Path, model: str, metric: str, as_json: bool) -> None:
    """Fit a verification threshold on your own labelled pairs.

    PAIRS_CSV has the columns path_a,path_b,same (same: 1/0, true/false or
    same/different; relative paths from the CSV's folder). Prints the
    accuracy-maximising threshold with its accuracy, false accept rate (FAR)
    and true accept rate (TAR) on the pairs, and a cross-validated accuracy.

    \b
    Examples:
      transfer calibrate my_pairs.csv
      transfer calibrate my_pairs.csv --model dlib --metric euclidean --json
      transfer verify a.jpg b.jpg --threshold 0.52   # then use it
    """
    from transfer.faces.api import calibrate as fit

    with _user_errors():
        pairs, labels = read_pairs_csv(pairs_csv)
        _, report = fit(pairs, labels, model, metric=metric)
    if as_json:
        _echo_json(report)
        return
    click.echo(
        f"threshold {report['threshold']:.4f} ({model}, {metric}) on {report['n_pairs']} pairs: "
        f"accuracy {report['accuracy']:.3f}, FAR {report['far']:.3f}, TAR {report['tar']:.3f}; "
        f"{report['cv_folds']}-fold cross-validated accuracy {report['cv_accuracy']:.3f}"
    )
    click.echo(
        f"use it: transfer verify A B --model {model} --metric {metric} "
        f"--threshold {report['threshold']:.4f}"
    )


#: The commands ``cli/main.py`` registers, by name.
COMMANDS = {"verify": verify, "represent": represent, "find": find, "calibrate": calibrate}
