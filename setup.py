"""Only here for the C extension; all metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ns6g._shmsync",
            sources=["ns6g/_shmsync.c"],
            include_dirs=["ns3_scenarios/bridge"],  # ns6g-wait.h: the wait code the scenarios also run
            depends=["ns3_scenarios/bridge/ns6g-wait.h"],
            extra_compile_args=["-O2", "-std=c11"],
        )
    ]
)
