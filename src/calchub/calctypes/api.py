"""The plug-in API: what a calculation type declares and the hooks it may override.

A type is a subclass of :class:`CalcType` (or one YAML file, which becomes one).
The server uses the declarative half (schema, uploads, templates, command,
resources, analyses) to check and prepare a submission; the agent uses the hooks
(``validate``, ``extract``, the analyses) next to the files after the run.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from calchub.calctypes.paths import glob_match
from calchub.calctypes.results import Results


class TypeRefused(ValueError):
    """A calculation type that cannot be registered (bad declaration, cycle, missing need)."""


@dataclass(frozen=True)
class Upload:
    """A file the user sends with the submission; ``path`` may be a glob ("*.dat", see ``paths``)."""

    path: str
    required: bool = True
    description: str = ""

    def matches(self, path: str) -> bool:
        return glob_match(path, self.path)


@dataclass
class RunDir:
    """A finished run's work folder, as validators, extractors and analyses see it."""

    path: Path
    inputs: dict[str, Any]
    exit_code: int | None = 0

    def file(self, relative: str) -> Path:
        return self.path / relative

    def exists(self, relative: str) -> bool:
        return (self.path / relative).is_file()

    def text(self, relative: str) -> str:
        """A file's text; ``stdout`` and ``stderr`` name the run's own streams."""
        if relative in {"stdout", "stderr"}:
            relative = f".calchub/{relative}"
        target = self.path / relative
        return target.read_text(errors="replace") if target.is_file() else ""

    def stdout(self) -> str:
        return self.text("stdout")

    def stderr(self) -> str:
        return self.text("stderr")


@dataclass
class AnalysisContext:
    """What an analysis step sees: the run, the results so far, and where to put figures."""

    run: RunDir
    results: Results

    @property
    def inputs(self) -> dict[str, Any]:
        return self.run.inputs

    def figure(self, name: str, svg: str, title: str = "", plot: dict[str, Any] | None = None) -> None:
        """Save an SVG figure under ``figures/`` and record it with the results.

        The pages draw the figure interactively from its Plotly spec: ``plot`` when given, else
        the one a chart of ``calchub.calctypes.figures`` carries (its :class:`Drawing`); plain
        SVG text without a spec is shown as the image it is.
        """
        relative = f"figures/{name}.svg"
        target = self.run.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(svg)
        spec = plot if plot is not None else getattr(svg, "plot", None)
        self.results.figure(name, relative, title, spec)


AnalysisStep = Callable[[AnalysisContext], None]


@dataclass(frozen=True)
class Analysis:
    """A named step that consumes extracted data (or other analyses) and adds results.

    ``needs`` names results the extractors provide (see ``CalcType.provides``) or
    other analyses; together they form the graph that orders the steps.
    """

    name: str
    run: AnalysisStep
    needs: tuple[str, ...] = ()
    description: str = ""
    default: bool = True


@dataclass
class Prepared:
    """A submission rendered into what an agent runs."""

    command: list[str]
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)


class CalcType:
    """Subclass and fill in the class attributes; override the hooks you need.

    ``version`` must change whenever the type changes what it runs or keeps:
    every calculation records the name and version it ran with.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: JSON Schema (draft 2020-12) of the inputs: forms and checks both come from it.
    schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    uploads: ClassVar[tuple[Upload, ...]] = ()
    #: Work-folder path -> Jinja2 template, rendered with the inputs.
    templates: ClassVar[dict[str, str]] = {}
    #: The command; each argument is a Jinja2 template rendered with the inputs.
    command: ClassVar[list[str]] = []
    env: ClassVar[dict[str, str]] = {}
    #: Default resources (cores, gpus, memory, walltime); the submission may override them.
    resources: ClassVar[dict[str, Any]] = {}
    #: Globs of files uploaded to the server after the run.
    keep: ClassVar[list[str]] = []
    #: Globs of raw files deleted once extraction succeeded (those in ``keep`` stay).
    cleanup: ClassVar[list[str]] = []
    #: Names of the results ``extract`` may produce, which analyses may need.
    provides: ClassVar[tuple[str, ...]] = ()
    analyses: ClassVar[tuple[Analysis, ...]] = ()
    #: Where the type came from (a module, an entry point, a file); set on loading.
    source: str = ""

    # -- hooks -----------------------------------------------------------------

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        """Checks the schema cannot express: (field, rule, message) for each problem."""
        return []

    def default_analyses(self, inputs: dict[str, Any]) -> list[str]:
        """The analyses run when a submission does not choose."""
        return [a.name for a in self.analyses if a.default]

    def context(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Variables for the templates; the inputs themselves by default."""
        return dict(inputs)

    def prepare(self, inputs: dict[str, Any]) -> Prepared:
        from calchub.calctypes.render import render_all

        return render_all(self, self.context(inputs))

    def validate(self, run: RunDir) -> list[str]:
        """Reasons the run is not a good one (did not converge, output incomplete); [] if fine."""
        return []

    def extract(self, run: RunDir, results: Results) -> None:
        """Record the numbers and tables that matter from the work folder."""

    # -- identity --------------------------------------------------------------

    def digest(self) -> str:
        """A fingerprint of the definition, recorded beside the version."""
        return _source_digest(type(self))

    def analysis(self, name: str) -> Analysis:
        for item in self.analyses:
            if item.name == name:
                return item
        raise KeyError(name)

    def upload_for(self, path: str) -> Upload | None:
        return next((u for u in self.uploads if u.matches(path)), None)


_digests: dict[type[CalcType], str] = {}


def _source_digest(cls: type[CalcType]) -> str:
    """The digest of the module that defines ``cls``, read once per class: it is the code loaded
    that runs, and every typed submission asks (a sweep, once per point)."""
    if cls not in _digests:
        module = sys.modules.get(cls.__module__)
        try:
            text = inspect.getsource(module) if module is not None else repr(vars(cls))
        except (OSError, TypeError):
            text = repr(sorted(vars(cls)))
        _digests[cls] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return _digests[cls]
