"""The optional compiled hot paths (aievents._speedups); the rest is in pyproject.toml.

One extension module from two C files: ``_speedups.c`` (the AggregateSink's
tally) and ``_screen.c`` (the secrets' screen), sharing ``_speedups.h``.
Without a C compiler the build goes on without them, and aievents runs
their pure Python twins instead. The module carries the digest of the C
sources it is built from (see src/aievents/_compiled.py): a build left
from older sources is not used.
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup

_SPEC = importlib.util.spec_from_file_location(
    "aievents_compiled", Path(__file__).parent / "src" / "aievents" / "_compiled.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
_COMPILED = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_COMPILED)
_DIGEST = _COMPILED.source_digest(Path(__file__).parent / "src" / "aievents")

setup(
    ext_modules=[
        Extension(
            "aievents._speedups",
            sources=["src/aievents/_speedups.c", "src/aievents/_screen.c"],
            depends=[str(path) for path in sorted(Path("src/aievents").glob("*.h"))],
            define_macros=[("SPEEDUPS_SOURCES", f'"{_DIGEST}"')],
            optional=True,
        ),
    ]
)
