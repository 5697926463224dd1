"""Python access to the numbers of ns6g's compiled 6G RAN model (``ns3_scenarios/ran/``).

Every function here asks the C++ model itself, through a ``ran-query`` scenario process, so plots and
checks show what the simulations use.
"""

from ns6g.radio._query import query, record_dtype

__all__ = ["query", "record_dtype"]
