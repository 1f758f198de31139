"""Recipes: validated descriptions of a dataset, from YAML or Python.

``recipe.base`` holds the shared building blocks, ``recipe.models`` the Recipe (which gathers the
generator and filter kinds), ``recipe.load`` YAML loading, ``--set`` overrides and error messages.
This package imports nothing itself, so any part may use ``recipe.base`` without cycles.
"""
