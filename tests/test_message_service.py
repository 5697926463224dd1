"""Message services (ns6g::MessageService) have no spaces; record dtypes come from the C++ member types."""

import re

import numpy as np
import pytest

from ns6g.core.bridge import Bridge, BridgeError
from ns6g.core.build import scenario_binary
from ns6g.learners.cosim import FlNetworkConfig

SERVICES = {"fl-network": lambda: FlNetworkConfig(clients=2).to_args(), "ran-query": lambda: []}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_message_service_declares_no_spaces_and_takes_no_step(name):
    with Bridge(scenario_binary(name), SERVICES[name]()) as b:
        assert b.is_service
        assert b.observation_space is None and b.action_space is None
        assert b.descriptor["observation"] is None and b.descriptor["action"] is None
        assert b.record_dtypes  # the message channel is what it serves
        outcome = b.reset(1)
        assert (outcome.reward, outcome.terminated, outcome.truncated, outcome.info) == (0.0, False, False, {})
        assert outcome.sim_time_s == 0.0
        with pytest.raises(BridgeError, match=f"{name} is a message service: it takes no action"):
            b.step(0)
        with pytest.raises(BridgeError, match="has no observation"):
            b.read_observation()
        assert b.alive


def test_a_gym_env_is_not_a_service(echo_binary):
    with Bridge(echo_binary) as b:
        assert not b.is_service and b.action_space is not None


def test_record_dtypes_are_inferred_from_the_member_types(echo_binary):
    """NS6G_FIELD writes no dtype by hand: uint64_t is <u8, uint32_t <u4, double <f8, char[N] S<N>."""
    with Bridge(echo_binary) as b:
        transfer = b.record_dtypes["transfer"]
    assert [transfer.fields[n][0].str for n in ("id", "src", "dst", "bytes", "start_s")] == [
        "<u8", "<u4", "<u4", "<u8", "<f8"]
    with Bridge(scenario_binary("ran-query")) as b:
        case = b.record_dtypes["schedule_case"]
    assert case.fields["policy"][0] == np.dtype("S16")


def test_no_record_dtype_is_typed_by_hand():
    """Every record field goes through NS6G_FIELD, whose dtype comes from the member's type."""
    from ns6g.core.bridge_layout import HEADER_PATH

    root = HEADER_PATH.parent.parent
    typed = re.compile(r'"[<|>]?[uifb][1248]"|"S\d+"')
    hits = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.[ch]*") if p.parent.name != "bridge"
            for n, line in enumerate(p.read_text().splitlines(), 1) if typed.search(line)]
    assert hits == []
