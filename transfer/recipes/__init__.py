"""Recipes: schema and validation, the runner, and the feature cache."""

from transfer.recipes.cache import FeatureCache, default_cache_dir
from transfer.recipes.runner import RunResult, run_recipe
from transfer.recipes.schema import (
    Recipe,
    RecipeError,
    list_recipes,
    load_recipe,
    load_recipe_text,
    resolve_recipe_path,
)

__all__ = [
    "FeatureCache",
    "Recipe",
    "RecipeError",
    "RunResult",
    "default_cache_dir",
    "list_recipes",
    "load_recipe",
    "load_recipe_text",
    "resolve_recipe_path",
    "run_recipe",
]
