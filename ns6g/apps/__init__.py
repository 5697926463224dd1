"""The application layer: the `ns6g` command line and what its commands run (demo, train, tune, fl,
flagship, bench, suite). It may import every other layer; nothing imports it."""
