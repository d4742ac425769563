"""The optional compiled hot paths (aievents._speedups); the rest is in pyproject.toml.

One extension module from two C files: ``_speedups.c`` (the AggregateSink's
tally) and ``_screen.c`` (the secrets' screen), sharing ``_speedups.h``.
Without a C compiler the build goes on without them, and aievents runs
their pure Python twins instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "aievents._speedups",
            sources=["src/aievents/_speedups.c", "src/aievents/_screen.c"],
            depends=["src/aievents/_speedups.h"],
            optional=True,
        ),
    ]
)
