"""The optional compiled hot paths (aievents._speedups); the rest is in pyproject.toml.

Without a C compiler the build goes on without them, and aievents runs
their pure Python twins instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("aievents._speedups", sources=["src/aievents/_speedups.c"], optional=True),
    ]
)
