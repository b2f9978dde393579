"""Package layout that pyproject.toml cannot express alone: the ``cli/`` and
``recipes/`` folders install as ``transfer_cli`` and ``transfer_recipes`` so
that they do not claim the generic import names ``cli`` and ``recipes``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["transfer", "transfer.*"]), "transfer_cli", "transfer_recipes"],
    package_dir={"transfer_cli": "cli", "transfer_recipes": "recipes"},
)
