"""ns6g: ns-3-coupled network emulation testbed for 6G edge learning."""
__version__ = "0.1.0"

from ns6g import _moved

_moved.install()  # the 0.1 module names (ns6g.bridge, ...) for one release, with a DeprecationWarning
