"""``transfer``: run recipes, list and describe components, rebuild reports.

Errors on bad input print one line (``error: ...``) and exit with status 2;
TensorFlow's log noise is silenced here, in the entry point, not at import.

Starting the command line imports click and this module only: every command
imports what it needs when it runs, ``transfer list`` reads the component
index (:func:`transfer.registry.component_index`) instead of importing
scikit-learn and the components, and the commands in other modules of this
package (:data:`LAZY_COMMANDS`) are imported only when they run or their help
is shown.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import logging
import re
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

import transfer
from transfer._registry import REGISTRIES

#: Commands defined in other modules: name -> ("module:attribute", short help).
#: The short help is what ``transfer --help`` shows without importing the module
#: (a test checks it against the command's own).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "verify": (
        "transfer_cli.faces:verify",
        "Do two face photos show the same person (distance, threshold, same).",
    ),
    "represent": (
        "transfer_cli.faces:represent",
        "Face embeddings of image files, written to .npz or .parquet.",
    ),
    "find": (
        "transfer_cli.faces:find",
        "Rank the faces of a folder or index by similarity to an image.",
    ),
    "calibrate": (
        "transfer_cli.faces:calibrate",
        "Fit a verification threshold on your own labelled pairs.",
    ),
    "compare": (
        "transfer_cli.compare:compare",
        "Put the results folders RESULTS_DIRS side by side.",
    ),
    "extract": (
        "transfer_cli.extract:extract",
        "Write one extractor's features of a recipe's images as Parquet shards.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose commands in :attr:`lazy_commands` import on first use.

    ``transfer --help`` lists them with their stored short help; ``transfer
    NAME ...`` and ``transfer NAME --help`` import ``module`` and take its
    ``attribute``. A module that is not there (yet) gives a command that says
    so and exits with status 2, instead of breaking the whole command line.

    Parameters
    ----------
    lazy_commands : dict of str to (str, str)
        Command name -> (``"module:attribute"``, short help).
    """

    def __init__(self, *args: Any, lazy_commands: dict | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, tuple[str, str]] = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        target, short = self.lazy_commands[cmd_name]
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a dependency of the module is missing: a real error
                raise
            return _unavailable(cmd_name, short, module_name)
        command = getattr(module, attribute)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in self.commands:
                if self.commands[name].hidden:
                    continue
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:  # stored beside the mapping: listing does not import the module
                rows.append((name, self.lazy_commands[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _unavailable(name: str, short: str, module: str) -> click.Command:
    def fail(args: tuple[str, ...]) -> None:
        _fail(f"the command {name!r} is not available in this installation ({module} is missing)")

    return click.Command(
        name,
        callback=fail,
        params=[click.Argument(["args"], nargs=-1)],
        help=f"{short}\n\nNot available: {module} is missing.",
        short_help=short,
        context_settings={"ignore_unknown_options": True},
    )


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# Errors that come from the user's input (recipe, data, parameters), shown as
# one line; anything else is a bug and keeps its traceback.
def _user_errors() -> tuple[type[BaseException], ...]:
    from transfer.data.imageset import ImageReadError
    from transfer.recipes.engines import EngineError
    from transfer.recipes.schema import RecipeError
    from transfer.train.trainer import TrainingError

    return (
        EngineError,
        RecipeError,
        ImageReadError,
        TrainingError,
        ValueError,
        FileNotFoundError,
        KeyError,
        OSError,
    )


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(transfer.__version__, prog_name="transfer")
@click.option("-v", "--verbose", is_flag=True, help="Log details (cache hits, timings).")
def main(verbose: bool) -> None:
    """Compare learned and handcrafted image features with simple heads.

    \b
    Examples:
      transfer list recipes                 shipped experiments: title, run time, weights
      transfer show recipe quickstart       print one
      transfer init quickstart my.yaml      copy it to edit, then: transfer run my.yaml
      transfer run quickstart               run it; results/quickstart/report.html
      transfer list extractors 'lbp*'       components, filtered by a glob
      transfer describe extractor lbp       parameters, defaults, allowed values
    """
    from transfer._quiet import quiet_tensorflow

    quiet_tensorflow(verbose)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@main.command()
@click.argument("recipe")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder (default: results/<recipe name>). A new or empty folder, or one "
    "that transfer wrote before (replaced).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe key, e.g. --set data.root=/data --set protocol.params.n_repeats=3.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything (recipe, parameters, every image, weights, --out), then stop.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into an existing folder that holds other files (none of them is deleted).",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars and progress lines.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where extraction and the cells run (default: the recipe's engine:, else local). "
    "ray needs pip install 'transfer[ray]'.",
)
@click.option(
    "--address",
    default=None,
    metavar="ADDR",
    help="The Ray cluster to join: auto (started here with `ray start`), ray://HOST:PORT or "
    "HOST:PORT. Without it --engine ray starts a local Ray instance for the run. Implies "
    "--engine ray.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Ray extraction actors (one CPU each; default: the cluster's CPUs).",
)
@click.pass_context
def run(
    ctx: click.Context,
    recipe: str,
    out: Path | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    force: bool,
    no_progress: bool,
    engine: str | None,
    address: str | None,
    workers: int | None,
) -> None:
    """Run RECIPE (a YAML file or the name of a shipped recipe).

    Finished cells (extractor x head x fold) are cached: a run that was
    interrupted resumes where it stopped, and a finished one re-runs in
    seconds. Exits with status 1 when some cells failed (the others are
    written; results.csv has the errors), 2 on bad input.

    \b
    Examples:
      transfer run quickstart
      transfer run orl-identification --set data.root=/data --out results/orl
      transfer run my.yaml --dry-run
      transfer run quickstart --engine ray --workers 2     a local Ray instance
      transfer run lfw-people --address ray://head:10001   an existing Ray cluster
    """
    from transfer.recipes import load_recipe

    try:
        rec = load_recipe(recipe, [*overrides, *engine_overrides(engine, address, workers)])
    except _user_errors() as exc:
        _fail(str(exc))
        return
    _execute(ctx, rec, out or Path("results") / rec.name, dry_run, force, no_progress)


def engine_overrides(engine: str | None, address: str | None, workers: int | None) -> list[str]:
    """``--set`` assignments of the ``engine:`` section for the engine options
    (recorded in the results' recipe.yaml like any override)."""
    if address is not None and engine is None:
        engine = "ray"
    sets = [] if engine is None else [f"engine.name={engine}"]
    if address is not None:
        sets.append(f"engine.address={json.dumps(address)}")
    if workers is not None:
        sets.append(f"engine.workers={workers}")
    return sets


def _execute(
    ctx: click.Context, rec: object, out_dir: Path, dry_run: bool, force: bool, no_progress: bool
) -> None:
    """Plan and run a loaded recipe; the closing table, or one error line."""
    from transfer._config import config_context
    from transfer.recipes.runner import closing_table, plan_run, run_recipe

    echo = click.echo
    try:
        terminal = sys.stderr.isatty()
        lines = None if (no_progress or terminal) else echo  # piped: plain periodic lines
        with config_context(progress=not no_progress and terminal, progress_lines=lines):
            plan = plan_run(rec, out_dir, force=force)
            if dry_run:
                echo(f"{rec.name}: valid. {plan.summary()}; results would go to {out_dir}")
                return
            say = (lambda _msg: None) if no_progress else echo
            result = run_recipe(
                rec,
                out_dir,
                console=say,
                force=force,
                command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                plan=plan,
            )
    except _user_errors() as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the staging folder is already gone
        swept = getattr(rec, "sweep", None) is not None
        done = "the finished points of the sweep are written" if swept else "no results written"
        click.echo(
            f"interrupted: {done}; finished cells are cached, so running the same "
            "command again resumes where this run stopped",
            err=True,
        )
        sys.exit(130)
    echo(closing_table(result, rec.protocol.primary_metric))
    echo(f"results: {result.out_dir}  (report: {result.out_dir / 'report.html'})")
    if result.n_failed:
        click.echo(
            f"error: {result.n_failed} cell(s) failed; their errors are in "
            f"{result.out_dir / 'results.csv'}",
            err=True,
        )
        ctx.exit(1)


def _applies(name: str, rec: object) -> bool:
    """Whether analysis ``name`` with its defaults accepts recipe ``rec``."""
    from transfer.registry import ANALYSES

    try:
        ANALYSES.create(name).check_recipe(list(rec.extractors), rec.protocol)
    except ValueError:
        return False
    return True


@main.command()
@click.argument("target")
@click.option(
    "--analysis",
    "names",
    multiple=True,
    metavar="NAME",
    help="An analysis to run (repeat for several; `transfer list analyses`). Default: the "
    "recipe's analyses section, else every registered analysis.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder (default: TARGET when it is a results folder, else "
    "results/<recipe name>).",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for run.")
@click.option("--dry-run", is_flag=True, help="Check everything, then stop.")
@click.option("--force", is_flag=True, help="As for run.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars and progress lines.")
@click.pass_context
def analyze(
    ctx: click.Context,
    target: str,
    names: tuple[str, ...],
    out: Path | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    force: bool,
    no_progress: bool,
) -> None:
    """The neuron analyses (`transfer list analyses`) of TARGET.

    TARGET is a recipe (a YAML file or a shipped name) or a results folder
    that `transfer run` wrote (its recipe.yaml is used and the folder is
    rewritten with the analyses added). The cells and features of an
    earlier run come from the cache, so only the analyses are computed;
    their tables go to analyses/<label>/ and into the report.

    \b
    Examples:
      transfer analyze results/celeba-attributes --analysis occlusion
      transfer analyze lfw-deepid2 --analysis sparsity --analysis selectivity
    """
    from transfer.recipes import load_recipe
    from transfer.recipes.output import MARKER
    from transfer.registry import list_analyses

    source, folder = target, Path(target)
    if folder.is_dir():
        if not (folder / MARKER).is_file() or not (folder / "recipe.yaml").is_file():
            _fail(
                f"{target!r} is a folder but not a results folder written by transfer "
                f"(no {MARKER} and recipe.yaml); give a recipe or a results folder"
            )
            return
        source, out = str(folder / "recipe.yaml"), out or folder
    chosen = list(names)
    try:
        if not chosen:
            rec = load_recipe(source, list(overrides))
            if not rec.analyses:  # every analysis that applies to this recipe
                chosen = [n for n in list_analyses() if _applies(n, rec)]
        if chosen:
            unknown = [n for n in chosen if n not in list_analyses()]
            if unknown:
                from transfer._registry import did_you_mean

                raise ValueError(
                    f"--analysis {unknown[0]!r} is not an analysis."
                    f"{did_you_mean(unknown[0], list_analyses())} "
                    f"Analyses: {', '.join(list_analyses())}"
                )
            rec = load_recipe(source, [f"analyses=[{', '.join(chosen)}]", *overrides])
    except _user_errors() as exc:
        _fail(str(exc))
        return
    _execute(ctx, rec, out or Path("results") / rec.name, dry_run, force, no_progress)


@main.command()
@click.argument("recipe")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for run.")
@click.option("--dry-run", is_flag=True, help="Check the train: section and its data, then stop.")
@click.option("--no-progress", is_flag=True, help="Hide the per-epoch lines.")
def train(recipe: str, overrides: tuple[str, ...], dry_run: bool, no_progress: bool) -> None:
    """Train the networks of RECIPE's train: section on their dataset A.

    Each network is saved as model.keras with its card model.json in the
    cache (named by the key of everything that made it), where `transfer
    run RECIPE` finds it; a killed training resumes from its last epoch.

    \b
    Examples:
      transfer train mnist-lenet --set train.0.params.epochs=2
      transfer train cifar10-scratch-vs-transfer --dry-run
    """
    from transfer.recipes import load_recipe
    from transfer.train.recipe import plan_training, run_training

    try:
        rec = load_recipe(recipe, list(overrides))
        if not rec.train_jobs:
            raise ValueError(f"{rec.source}: the recipe has no train: section")
        # a sweep trains the networks of every point (each once: points may share them)
        plans, seen = [], set()
        for point in rec.sweep.points if rec.sweep is not None else [rec]:
            for plan in plan_training(point):
                if plan.folder not in seen:
                    seen.add(plan.folder)
                    plans.append(plan)
        if not dry_run:
            run_training(plans, (lambda _msg: None) if no_progress else click.echo)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        click.echo("interrupted: the next `transfer train` resumes from the last epoch", err=True)
        sys.exit(130)
    for plan in plans:
        state = "trained" if plan.done else "to train"
        test = (plan.card or {}).get("test")
        score = f", test accuracy on A {test['accuracy']:.4f}" if test else ""
        click.echo(f"{plan.job.label}: {state}, {len(plan.data)} images of A{score}")
        click.echo(f"  {plan.model_path}")


# -- discovering what there is: list, show, init, describe ----------------------

#: What `transfer list` lists besides the registries (each a function below).
_EXTRA_KINDS = ("recipes", "weights", "backbones")

#: Spans like "about 45 minutes", "A few minutes", "13 minutes" in a recipe's header.
_RUNTIME = re.compile(
    r"\b(?:(?:about|around|under|roughly)\s+|~)?"
    r"(?:\d[\d.,]*(?:\s*(?:-|to)\s*\d[\d.,]*)?|an?(?:\s+few)?|one|two|three|four|five|ten)"
    r"\s+(?:minutes?|hours?|seconds?)\b",
    re.IGNORECASE,
)


def _registry_kinds() -> list[str]:
    return [reg.plural for reg in REGISTRIES]


def _shipped_recipes() -> dict[str, Path]:
    """Name -> file of every shipped recipe (the ``transfer_recipes`` package)."""
    import transfer_recipes

    folder = Path(transfer_recipes.__file__).parent
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _shipped_recipe(name: str) -> Path:
    """The file of the shipped recipe ``name``, or a user error naming the closest."""
    from transfer._registry import UnknownNameError, did_you_mean

    recipes = _shipped_recipes()
    if name not in recipes:
        raise UnknownNameError(
            f"unknown recipe {name!r}.{did_you_mean(name, sorted(recipes))} "
            f"Shipped recipes: {', '.join(recipes)}"
        )
    return recipes[name]


def _recipe_info(path: Path) -> dict[str, Any]:
    """Title, run time (as its header states it) and weights of a recipe file.

    The run time is the first duration the comment header gives ("about 45
    minutes"); the weights are every known weights name (or alias) the file
    mentions, so a set named only in the header's "Weights:" line counts.
    """
    import yaml

    from transfer.weights.records import canonical_weights, list_weights, weights_aliases

    text = path.read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    data = data if isinstance(data, dict) else {}
    found = _RUNTIME.search(" ".join(header))
    runtime = found.group(0) if found else ""
    names = [*list_weights(), *weights_aliases()]
    mentioned = [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w]|\.\w)", text)]
    weights = list(dict.fromkeys(canonical_weights(n) for n in mentioned))
    title = str(data.get("title") or (header[0] if header else ""))
    return {
        "name": path.stem,
        "summary": title,
        "title": title,
        "runtime": runtime[:1].lower() + runtime[1:],  # "About a minute." mid-line
        "weights": weights,
        "path": str(path),
    }


def _weights_rows() -> list[dict[str, Any]]:
    """Known weights with a quick state (files present; `transfer weights verify` hashes)."""
    from transfer_cli.weights import _weights_rows as weights_rows

    rows = []
    for row in weights_rows(check_sha256=False):
        state = "prepares on first use" if row["prepares_on_first_use"] else row["state"]
        rows.append(
            {
                "name": row["name"],
                "summary": f"{row['metric']} {row['accuracy']:.1%}; network "
                f"{row['architecture']}, input {row['input_size']}; {state}",
                "aliases": row["aliases"],
                "state": state,
                "architecture": row["architecture"],
                "origin": row["origin"],
            }
        )
    return rows


def _rows(what: str) -> list[dict[str, Any]]:
    """The entries ``transfer list WHAT`` shows: each a dict with name and summary."""
    if what == "recipes":
        return [_recipe_info(p) for p in _shipped_recipes().values()]
    if what == "weights":
        return _weights_rows()
    from transfer.registry import component_index

    rows = [dict(e) for e in component_index()[what]]
    if what == "datasets":
        rows.append(
            {
                "name": "tfds:NAME",
                "summary": "a TensorFlow Datasets name (needs the network, or a prepared data_dir)",
            }
        )
    return rows


def _matches(name: str, pattern: str | None) -> bool:
    if not pattern:
        return True
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"  # a bare word: names that contain it
    return fnmatch.fnmatchcase(name, pattern)


def _recipe_line(row: dict[str, Any]) -> str:
    extra = [row["runtime"]] if row["runtime"] else []
    if row["weights"]:
        extra.append(f"weights: {', '.join(row['weights'])}")
    return row["title"] + (f"  ({'; '.join(extra)})" if extra else "")


@main.command("list")
@click.argument(
    "what",
    required=False,
    type=click.Choice([*_registry_kinds(), *_EXTRA_KINDS]),
)
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (name, summary, details).")
def list_(what: str | None, pattern: str | None, as_json: bool) -> None:
    """List what there is, each with a one-line description.

    WHAT is one of the choices above (all of them when omitted); PATTERN a
    glob on the names ('lbp*', '*_svm'), a bare word matching names that
    contain it. Descriptions come from the components (their docstrings);
    recipes show their title, the run time their header states, and the
    weights they need; weights their state (prepared, prepares on first use,
    not prepared).

    \b
    Examples:
      transfer list recipes
      transfer list extractors 'lbp*'
      transfer list heads --json
      transfer describe extractor lbp      (the parameters of one)
    """
    kinds = [what] if what else [*_registry_kinds(), *_EXTRA_KINDS]
    try:
        found = {k: [r for r in _rows(k) if _matches(r["name"], pattern)] for k in kinds}
    except _user_errors() as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(found[what] if what else found, indent=2, default=str))
        return
    for kind, rows in found.items():
        if not what:
            if not rows:
                continue
            click.echo(f"{kind}:")
        width = max((len(r["name"]) for r in rows), default=0)
        indent = "" if what else "  "
        for row in rows:
            text = _recipe_line(row) if kind == "recipes" else row["summary"]
            alias = f"  (alias: {', '.join(row['aliases'])})" if row.get("aliases") else ""
            click.echo(f"{indent}{row['name']:<{width}}  {text}{alias}".rstrip())
    if what and not found[what] and pattern:
        click.echo(f"no {what} match {pattern!r}", err=True)


@main.command()
@click.argument("what", type=click.Choice(["recipe"]))
@click.argument("name")
def show(what: str, name: str) -> None:
    """Print the shipped recipe NAME (`transfer list recipes`).

    \b
    Examples:
      transfer show recipe orl-identification
      transfer show recipe quickstart > mine.yaml     (or: transfer init quickstart)
    """
    try:
        click.echo(_shipped_recipe(name).read_text(), nl=False)
    except _user_errors() as exc:
        _fail(str(exc))


@main.command()
@click.argument("name")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def init(name: str, path: Path | None) -> None:
    """Copy the shipped recipe NAME to PATH (default ./NAME.yaml) for editing.

    An existing file is never overwritten; PATH may be a folder. Prints the
    new file and the command that runs it.

    \b
    Examples:
      transfer init quickstart
      transfer init orl-identification experiments/orl.yaml
    """
    try:
        source = _shipped_recipe(name)
        target = path or Path(f"{name}.yaml")
        if target.is_dir():
            target = target / f"{name}.yaml"
        if target.exists():
            raise FileExistsError(
                f"{target} already exists: not overwritten; give another PATH or delete it"
            )
        if not target.parent.is_dir():
            raise FileNotFoundError(f"the folder {target.parent} does not exist")
        with open(target, "x", encoding="utf-8") as f:  # "x": a file created meanwhile is kept
            f.write(source.read_text())
    except _user_errors() as exc:
        _fail(str(exc))
        return
    click.echo(f"wrote {target} (a copy of the shipped recipe {name!r})")
    click.echo(f"edit it, then run: transfer run {shlex.quote(str(target))}")


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(
        " ".join(text.split()), width=88, initial_indent=indent, subsequent_indent=indent
    )


def _describe_text(info: dict[str, Any]) -> str:
    lines = [f"{info['name']} ({info['kind']}): {info['summary']}", f"  {info['object']}"]
    if info["description"]:
        lines += ["", *(_wrap(p, "") for p in info["description"].split("\n\n"))]
    lines += ["", "Parameters:" if info["parameters"] else "Parameters: none"]
    for p in info["parameters"]:
        value = "(required)" if p["required"] else f"= {p['default']}"
        lines.append(f"  {p['name']} {value}" + (f"  : {p['type']}" if p["type"] else ""))
        if p["allowed"]:
            lines.append(_wrap(f"allowed: {p['allowed']}", "      "))
        if p["doc"]:
            lines.append(_wrap(p["doc"], "      "))
    extra = {k: v for k, v in info["info"].items() if k not in ("name", "summary")}
    if extra:
        lines += ["", "Dataset:"]
        lines += [_wrap(f"{k}: {v}", "  ") for k, v in extra.items()]
    if info["references"]:
        lines += ["", "References:", *(f"  {r}" for r in info["references"])]
    return "\n".join(lines)


@main.command()
@click.argument("kind", type=click.Choice([reg.kind for reg in REGISTRIES]))
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")
def describe(kind: str, name: str, as_json: bool) -> None:
    """The parameters of the KIND named NAME: defaults, allowed values, references.

    Read from the component itself: its signature (defaults), its docstring
    (types, descriptions, references) and its validation table (allowed
    values). An unknown NAME suggests the closest (exit status 2).

    \b
    Examples:
      transfer describe extractor lbp
      transfer describe head linear_svm --json
      transfer describe dataset orl
    """
    from transfer.registry import describe as describe_component

    try:
        info = describe_component(kind, name)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    click.echo(json.dumps(info, indent=2, default=str) if as_json else _describe_text(info))


@main.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
def report(results_dir: Path) -> None:
    """Rebuild the report of RESULTS_DIR from its result files alone.

    \b
    Example:
      transfer report results/quickstart
    """
    from transfer.report import build_report

    try:
        paths = build_report(results_dir)
    except _user_errors() as exc:
        _fail(str(exc))
        return
    for path in paths.values():
        click.echo(str(path))


# the weights commands live in transfer_cli.weights (cheap: it imports click only)
from transfer_cli.weights import weights  # noqa: E402

main.add_command(weights)


if __name__ == "__main__":  # pragma: no cover
    main()
