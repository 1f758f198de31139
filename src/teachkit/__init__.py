"""teachkit: turn a strong teacher LLM into a factory of fine-tuning data for a smaller student.

The curated public API. Everything else lives in the role folders (``teachers``, ``generators``,
``filters``, ``formats``, ``engine``, ``testing``) and is imported from there.
"""

from teachkit.engine import RunSummary, plan, read_accepted, read_rejected, run, run_async
from teachkit.errors import TeachkitError
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.load import load_recipe, parse_recipe
from teachkit.recipe.models import Recipe
from teachkit.records import Record

__version__ = "0.1.0"

__all__ = [
    "Recipe",
    "Record",
    "RunSummary",
    "TeacherConfig",
    "TeachkitError",
    "__version__",
    "load_recipe",
    "parse_recipe",
    "plan",
    "read_accepted",
    "read_rejected",
    "run",
    "run_async",
]
