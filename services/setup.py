"""Declares the C extension of evcharge.exi; everything else is in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "evcharge.exi._exi",
            sources=["evcharge/exi/_exi.c", "evcharge/exi/exi_tables.c"],
            depends=["evcharge/exi/exi_engine.h"],
            # Portable flags only: the Yocto recipe cross-compiles this with its own CFLAGS.
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
        )
    ],
    # The C sources are build inputs only; keep them out of the installed package.
    exclude_package_data={"evcharge.exi": ["*.c", "*.h"]},
)
