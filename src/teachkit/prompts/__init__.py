"""Prompts: diversity axes and sandboxed templates."""

from teachkit.prompts.axes import (
    Axes,
    AxisSampler,
    AxisSampling,
    AxisSpec,
    Coverage,
    WeightedValue,
    variable_name_problem,
)
from teachkit.prompts.templates import Template, compile_template

__all__ = [
    "Axes",
    "AxisSampler",
    "AxisSampling",
    "AxisSpec",
    "Coverage",
    "Template",
    "WeightedValue",
    "compile_template",
    "variable_name_problem",
]
