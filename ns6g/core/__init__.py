"""The plumbing layer: the shared-memory bridge and its spaces, the scenario build, config bases, run
directories and output paths. It imports nothing else of ns6g (see docs/architecture.md, "Python package
layers")."""
