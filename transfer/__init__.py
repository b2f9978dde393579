"""transfer: how much do learned features buy over handcrafted ones?

A toolkit to compare feature extractors (handcrafted and learned) under
simple heads and standard evaluation protocols, on your own images.

Importing this package is cheap and has no side effects: TensorFlow and the
pretrained weights load only when an extractor first needs them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
