#!/usr/bin/env bash
# Install teachkit with every extra the tests need, then lint, type-check and run the whole suite.
# The README's second command runs this script; CI runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade-strategy only-if-needed -e '.[dev,local,embed,parquet]'
python -m ruff check src tests bench
python -m ruff format --check src tests bench
python -m mypy
python -m pytest -q "$@"
