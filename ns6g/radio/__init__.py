"""Python access to the numbers of ns6g's compiled 6G RAN model (``ns3_scenarios/ran/``).

Every function here asks the C++ model itself, through a ``ran-query`` scenario process, so plots and
checks show what the simulations use: channel (``channel``: 38.901 path loss, LoS probability, sub-THz
absorption, fast fading), PHY (``phy``: carriers, link adaptation, TBS, BLER, HARQ) and MAC
(``scheduler``: policies, allocation checks, action encoding, reward metrics).

If the ``ran-query`` process dies, the query that finds it dead raises ``ns6g.core.bridge.ScenarioCrashed``
(or ``ScenarioNotResponding``) naming it, and says that the next query starts a new one. Configuration
checks leave no query process behind that they started.

>>> from ns6g import radio
>>> radio.pathloss_db("UMi-StreetCanyon", 28e9, 100.0, 10.0, 1.5, los=True)
"""

from ns6g.radio._query import query, record_dtype
from ns6g.radio.channel import (
    SCENARIOS,
    channel_refresh_cost,
    fast_fading,
    gaseous_absorption_db_per_km,
    los_probability,
    pathloss_db,
    scenario_code,
)
from ns6g.radio.phy import (
    TABLES,
    Carrier,
    bler,
    carrier,
    carriers,
    effective_sinr_db,
    harq,
    link_adaptation,
    mcs_table,
    noise_dbm,
    rb_sinr_db,
    tbs_bits,
    tbs_details,
)
from ns6g.radio.scheduler import (
    decode_action,
    deadline_violation_fraction,
    encode_action,
    jain_index,
    proportional_fair_utility,
    replay_external,
    reward,
    simulate_scheduler,
    sum_rate,
    validate_allocation,
)

__all__ = [
    "SCENARIOS", "TABLES", "Carrier", "bler", "carrier", "carriers", "channel_refresh_cost",
    "deadline_violation_fraction", "decode_action", "effective_sinr_db", "encode_action", "fast_fading",
    "gaseous_absorption_db_per_km", "harq", "jain_index", "link_adaptation", "los_probability", "mcs_table",
    "noise_dbm", "pathloss_db", "proportional_fair_utility", "query", "rb_sinr_db", "record_dtype",
    "replay_external", "reward", "scenario_code", "simulate_scheduler", "sum_rate", "tbs_bits",
    "tbs_details", "validate_allocation",
]
