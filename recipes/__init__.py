"""Recipes shipped with transfer (YAML files), installed as ``transfer_recipes``.

``transfer run NAME`` finds ``NAME.yaml`` here.
"""
