"""Calculation types: the plug-in API and the types calchub ships.

Write a type as one YAML file or a :class:`CalcType` subclass; see docs/plugins.md.
"""

from calchub.calctypes.api import (
    Analysis,
    AnalysisContext,
    CalcType,
    Prepared,
    RunDir,
    TypeRefused,
    Upload,
)
from calchub.calctypes.figures import Series, histograms, line_chart
from calchub.calctypes.results import Results

__all__ = [
    "Analysis",
    "AnalysisContext",
    "CalcType",
    "Prepared",
    "Results",
    "RunDir",
    "Series",
    "TypeRefused",
    "Upload",
    "histograms",
    "line_chart",
]
