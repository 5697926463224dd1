"""C++ sources of the ns-3 scenarios and the bridge header, shipped as package data."""
