"""Report sections: a registry that the HTML and Markdown renderers walk in order.

A section is a function ``(report) -> Section | None`` registered with
:func:`register_section`. The renderers call every active section once, in
``order``, and lay out what it returns: the registry writes the heading
(``<h2 id="NAME">`` and ``## TITLE``) and the navigation link, the section
writes its body as HTML and as Markdown.

Which sections are active is decided from the results folder, never from a
protocol or head name:

* sections registered with ``always=True`` (overview, results, failed cells,
  confusion matrix, binary codes, timing, environment, recipe) are asked
  every time and return None when they have nothing to show;
* the others render only when the run's protocol names them in
  ``meta.json``'s ``protocol.sections`` (for instance ``["roc", "scores"]``).
  Folders written before that key existed are read by file instead: a
  section registered with ``file="roc.csv"`` is requested when ``roc.csv``
  is there.

A protocol that needs its own section registers it from its own module::

    from transfer.report.sections import Section, register_section

    @register_section("det", title="DET curves", order=45, file="det.csv")
    def det_section(report):
        return Section(html="<p>...</p>", markdown="...")

and lists ``"det"`` in the ``sections`` it writes to ``meta.json``; nothing
under ``transfer/report/`` changes.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transfer.report import Report

__all__ = [
    "Section",
    "SectionSpec",
    "active_sections",
    "list_sections",
    "metric_notes",
    "register_section",
    "render_sections",
    "requested_sections",
    "unregister_section",
]

#: The modules whose import registers the built-in sections; imported on
#: first use so that importing :mod:`transfer.report` stays cheap.
_BUILTIN_MODULES = (
    "transfer.report.general",
    "transfer.report.curves",
    "transfer.report.attributes",
    "transfer.analysis",  # each analysis registers the section that shows it
    "transfer.train",  # the training curves of the train: stage
)

_SECTIONS: dict[str, SectionSpec] = {}


@dataclass(frozen=True)
class Section:
    """What one section shows.

    Attributes
    ----------
    html : str
        The body of the section in the HTML page (already escaped), without
        the heading the registry adds.
    markdown : str, default ""
        The same for ``report.md``; ``""`` leaves the section out of the
        Markdown file (plots only exist in the HTML page).
    plots : tuple of str, default ()
        Names of the plots the HTML body holds ("ROC curves"), listed at the
        top of ``report.md``.
    """

    html: str
    markdown: str = ""
    plots: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionSpec:
    """A registered section; see :func:`register_section` for the fields."""

    name: str
    title: str | None
    order: float
    render: Callable[[Report], Section | None]
    nav: str | None = None
    always: bool = False
    file: str | None = None
    metric_notes: Callable[[Report, str], list[str]] | None = None

    @property
    def nav_label(self) -> str | None:
        """The navigation link text: ``nav``, else ``title`` (None: no link)."""
        return self.nav or self.title


def register_section(
    name: str,
    *,
    title: str | None,
    order: float,
    nav: str | None = None,
    always: bool = False,
    file: str | None = None,
    metric_notes: Callable[[Report, str], list[str]] | None = None,
) -> Callable[[Callable[[Report], Section | None]], Callable[[Report], Section | None]]:
    """Decorator that registers a report section under ``name``.

    Parameters
    ----------
    name : str
        The name a protocol lists in ``meta.json``'s ``protocol.sections``;
        also the HTML anchor (``id``) of the heading.
    title : str or None
        The heading (``<h2>`` and ``##``). None writes no heading and no
        navigation link (the section writes its own markup).
    order : float
        Position on the page; lower comes first. The built-in sections use
        10 (overview) to 100 (recipe); protocol plots sit between 30 and 70.
    nav : str, optional
        Shorter text for the navigation link; defaults to ``title``.
    always : bool, default False
        Ask the section for every report (it returns None when it has
        nothing to show). When False, the section renders only when the
        run's protocol names it in ``protocol.sections``.
    file : str, optional
        A results-folder file whose presence requests the section in folders
        that predate ``protocol.sections`` (``"cmc.csv"``).
    metric_notes : callable, optional
        ``(report, metric) -> list of str``: footnotes the results section
        prints under the table of ``metric`` while this section is active
        (how a metric is read off the section's curves, say).

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Warns
    -----
    UserWarning
        When ``name`` was registered by another function: the new one
        replaces it.
    """

    def decorator(
        render: Callable[[Report], Section | None],
    ) -> Callable[[Report], Section | None]:
        old = _SECTIONS.get(name)
        if old is not None and getattr(old.render, "__qualname__", None) != getattr(
            render, "__qualname__", object()
        ):
            warnings.warn(
                f"report section {name!r} was registered again; {render!r} replaces {old.render!r}",
                UserWarning,
                stacklevel=2,
            )
        _SECTIONS[name] = SectionSpec(
            name=str(name),
            title=title,
            order=float(order),
            render=render,
            nav=nav,
            always=bool(always),
            file=file,
            metric_notes=metric_notes,
        )
        return render

    return decorator


def unregister_section(name: str) -> None:
    """Remove the section ``name`` (for plugins and tests); unknown names are ignored."""
    _SECTIONS.pop(name, None)


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _ordered() -> list[SectionSpec]:
    _load_builtins()
    return sorted(_SECTIONS.values(), key=lambda spec: (spec.order, spec.name))


def list_sections() -> list[str]:
    """Names of the registered sections, in page order."""
    return [spec.name for spec in _ordered()]


def requested_sections(meta: dict, path: str | Path | None = None) -> list[str]:
    """The sections a run's protocol asks for.

    Parameters
    ----------
    meta : dict
        ``meta.json``.
    path : str or Path, optional
        The results folder, to infer the sections of a folder written before
        ``protocol.sections`` existed.

    Returns
    -------
    list of str
        ``meta["protocol"]["sections"]`` when present; else, in page order,
        the sections registered with a ``file`` that exists in ``path``;
        then the sections of the run's analyses (``meta["analyses"]``).

    Raises
    ------
    ValueError
        If ``protocol.sections`` is not a list of strings.
    """
    protocol = meta.get("protocol") or {}
    analyses = [
        name
        for entry in meta.get("analyses") or []
        if isinstance(entry, dict)
        for name in entry.get("sections") or []
    ]
    if isinstance(protocol, dict) and "sections" in protocol:
        declared = protocol["sections"]
        if not isinstance(declared, list) or not all(isinstance(s, str) for s in declared):
            raise ValueError(f"protocol.sections must be a list of section names, got {declared!r}")
        return list(dict.fromkeys([*declared, *analyses]))
    if path is None:
        return analyses
    folder = Path(path)
    by_file = [spec.name for spec in _ordered() if spec.file and (folder / spec.file).is_file()]
    return list(dict.fromkeys([*by_file, *analyses]))


def active_sections(report: Report) -> list[SectionSpec]:
    """The sections to render for ``report``, in page order.

    Parameters
    ----------
    report : Report
        A prepared report.

    Returns
    -------
    list of SectionSpec
        Every ``always`` section and every section the protocol requests.

    Warns
    -----
    UserWarning
        When the protocol requests a section that is not registered (the
        module that registers it was not imported); it is left out.
    """
    return _active(report, warn=True)


def _active(report: Report, *, warn: bool) -> list[SectionSpec]:
    specs = _ordered()
    requested = report.folder.sections
    unknown = [name for name in requested if name not in _SECTIONS]
    if unknown and warn:
        warnings.warn(
            f"meta.json in {str(report.folder.path)!r} requests the report section(s) "
            f"{unknown}, which are not registered; known sections: {', '.join(list_sections())}",
            UserWarning,
            stacklevel=3,
        )
    wanted = set(requested)
    return [spec for spec in specs if spec.always or spec.name in wanted]


def metric_notes(report: Report, metric: str) -> list[str]:
    """Footnotes for the table of ``metric``, from the active sections.

    Parameters
    ----------
    report : Report
        A prepared report.
    metric : str
        The metric of the table.

    Returns
    -------
    list of str
        Plain text, in page order of the sections that contribute notes.
    """
    notes: list[str] = []
    # The renderer warns about unknown sections once; the notes need not repeat it.
    for spec in _active(report, warn=False):
        if spec.metric_notes is not None:
            notes += [str(n) for n in spec.metric_notes(report, metric)]
    return notes


def render_sections(report: Report) -> list[tuple[SectionSpec, Section]]:
    """Render every active section of ``report`` once; later calls reuse the result.

    Parameters
    ----------
    report : Report
        A prepared report; the rendered sections are cached on it so the
        HTML and Markdown renderers draw each plot once.

    Returns
    -------
    list of (SectionSpec, Section)
        In page order, sections that returned None left out.
    """
    cached: Any = report.rendered
    if cached is not None:
        return cached
    out = []
    for spec in active_sections(report):
        section = spec.render(report)
        if section is not None:
            out.append((spec, section))
    report.rendered = out
    return out
