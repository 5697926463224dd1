"""ns6g: ns-3-coupled network emulation testbed for 6G edge learning."""
__version__ = "0.1.0"
