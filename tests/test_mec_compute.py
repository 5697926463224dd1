"""The MEC compute model (mec/model/processor.*) and device catalogue (mec/model/device-catalogue.*,
mec/devices.csv), asked through ns6g.compute.devices."""

import math

import numpy as np
import pandas as pd
import pytest

from ns6g.core.bridge import ScenarioError
from ns6g.compute.devices import (
    DEVICES,
    catalogue_path,
    check_split,
    device,
    device_info,
    processor_run,
    split_fits,
)
from ns6g.radio._query import query

GFLOP = 1e9


# ---------------------------------------------------------------------------------------------------
# Processor sharing


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_ps_k_equal_tasks_finish_together_at_k_times_the_work(k):
    df = processor_run([0.0] * k, [2 * GFLOP] * k, capacity_flops=GFLOP, discipline="ps")
    assert (df["start_s"] == 0.0).all()  # every task is in service at once
    assert df["finish_s"].to_numpy() == pytest.approx([k * 2.0] * k, abs=1e-9)


def test_ps_staggered_task_shares_from_its_arrival():
    # A: 2 GFLOP at t=0; B: 0.5 GFLOP at t=1; 1 GFLOP/s. A alone until 1 s (1 GFLOP left); both at
    # 0.5 GFLOP/s: B done at 1 + 0.5/0.5 = 2 s, A has 0.5 GFLOP left; alone again: done at 2 + 0.5 = 2.5 s.
    df = processor_run([0.0, 1.0], [2 * GFLOP, 0.5 * GFLOP], capacity_flops=GFLOP, discipline="ps")
    assert df["start_s"].tolist() == [0.0, 1.0]
    assert df["finish_s"].to_numpy() == pytest.approx([2.5, 2.0], abs=1e-9)


def test_ps_with_more_cores_than_tasks_runs_each_at_full_core_speed():
    # 2 cores, 3 tasks: each at 2/3 of a core. 3 x 1 GFLOP: all done at 1.5 s.
    df = processor_run([0, 0, 0], [GFLOP] * 3, capacity_flops=GFLOP, cores=2, discipline="ps")
    assert df["finish_s"].to_numpy() == pytest.approx([1.5] * 3, abs=1e-9)
    df = processor_run([0, 0], [GFLOP] * 2, capacity_flops=GFLOP, cores=4, discipline="ps")
    assert df["finish_s"].to_numpy() == pytest.approx([1.0, 1.0], abs=1e-9)


# ---------------------------------------------------------------------------------------------------
# FIFO


def test_fifo_serves_in_arrival_order_one_core():
    # Given out of order: served in arrival order, each alone at full speed.
    df = processor_run([0.2, 0.0, 0.1], [GFLOP, GFLOP, GFLOP], capacity_flops=GFLOP, discipline="fifo")
    assert df["start_s"].to_numpy() == pytest.approx([2.0, 0.0, 1.0], abs=1e-9)
    assert df["finish_s"].to_numpy() == pytest.approx([3.0, 1.0, 2.0], abs=1e-9)
    assert df["task"].tolist() == [2, 0, 1]  # ids in submission (arrival) order


def test_fifo_two_cores_run_two_at_once():
    df = processor_run([0, 0, 0, 0], [GFLOP, 2 * GFLOP, GFLOP, GFLOP], capacity_flops=GFLOP, cores=2)
    # Tasks 0 and 1 start at 0; task 2 takes the core task 0 frees at 1 s; task 3 the one task 2 frees at 2 s
    # (task 1 frees its core at 2 s too: either way 3 starts at 2 s).
    assert df["start_s"].to_numpy() == pytest.approx([0.0, 0.0, 1.0, 2.0], abs=1e-9)
    assert df["finish_s"].to_numpy() == pytest.approx([1.0, 2.0, 2.0, 3.0], abs=1e-9)
    starts = df["start_s"].to_numpy()
    assert np.all(np.diff(starts) >= 0)  # start times in arrival order


def test_zero_flop_task_finishes_on_arrival():
    df = processor_run([0.5], [0.0], capacity_flops=GFLOP, discipline="ps")
    assert df["finish_s"].iloc[0] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------
# Energy


def test_energy_per_flop_plus_idle_power_over_idle_time():
    # 1 GFLOP at 1 s and at 5 s, 1 GFLOP/s: busy [1, 2] and [5, 6]; idle [0, 1] and [2, 5] = 4 s.
    e, idle = 2e-9, 3.0
    for discipline in ("fifo", "ps"):
        df = processor_run([1.0, 5.0], [GFLOP, GFLOP], capacity_flops=GFLOP, discipline=discipline,
                           energy_per_flop_j=e, idle_power_w=idle)
        assert df["finish_s"].max() == pytest.approx(6.0)
        assert df["energy_j"].iloc[0] == pytest.approx(2 * GFLOP * e + idle * 4.0, rel=1e-12)


def test_kappa_model_charges_kappa_f_squared_per_cycle():
    kappa, f, fpc = 1e-28, 2e9, 4.0  # energy per cycle 4e-10 J, per FLOP 1e-10 J
    df = processor_run([0.0], [8 * GFLOP], capacity_flops=f * fpc, kappa_j=kappa, frequency_hz=f,
                       flops_per_cycle=fpc)
    assert df["finish_s"].iloc[0] == pytest.approx(1.0)
    assert df["energy_j"].iloc[0] == pytest.approx(8 * GFLOP / fpc * kappa * f**2, rel=1e-12)


def test_both_energy_models_refused():
    with pytest.raises(ScenarioError, match="both energy models"):
        processor_run([0.0], [GFLOP], capacity_flops=GFLOP, energy_per_flop_j=1e-9, kappa_j=1e-28,
                      frequency_hz=1e9)


# ---------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("capacity", [-1.0, 0.0, math.nan, math.inf])
def test_bad_capacity_refused(capacity):
    with pytest.raises(ScenarioError, match=r"CapacityFlops \(FLOP/s per core\) must be finite and > 0"):
        processor_run([0.0], [GFLOP], capacity_flops=capacity)


@pytest.mark.parametrize("flops", [-1.0, math.nan, math.inf])
def test_bad_flops_refused(flops):
    with pytest.raises(ScenarioError, match="a task's FLOPs must be finite and >= 0"):
        processor_run([0.0, 1.0], [GFLOP, flops], capacity_flops=GFLOP)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"energy_per_flop_j": -1e-9}, "EnergyPerFlopJ must be finite and >= 0"),
        ({"idle_power_w": math.nan}, "IdlePowerW must be finite and >= 0"),
        ({"cores": 0}, "cores must be in"),
        ({"discipline": "lifo"}, "discipline must be one of"),
    ],
)
def test_bad_parameters_refused(kwargs, message):
    with pytest.raises((ScenarioError, ValueError), match=message):
        processor_run([0.0], [GFLOP], capacity_flops=GFLOP, **kwargs)


def test_bad_arrival_refused():
    with pytest.raises(ScenarioError, match="arrival_s must be finite and >= 0"):
        processor_run([-1.0], [GFLOP], capacity_flops=GFLOP)


def test_model_still_answers_after_a_refusal():
    with pytest.raises(ScenarioError):
        processor_run([0.0], [math.nan], capacity_flops=GFLOP)
    df = processor_run([0.0], [GFLOP], capacity_flops=GFLOP)
    assert df["finish_s"].iloc[0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------
# Device catalogue


def test_catalogue_rows_are_valid_and_cpp_reads_the_same_numbers():
    assert len(DEVICES) >= 8
    assert DEVICES.index.is_unique
    for col in ("flops", "memory_bytes"):
        assert (DEVICES[col] > 0).all(), col
    for col in ("storage_bytes", "energy_per_flop_j", "idle_power_w"):
        assert (DEVICES[col] >= 0).all(), col
    assert DEVICES["source"].str.len().gt(10).all()
    radio = DEVICES["tx_power_dbm"].dropna()
    assert radio.between(-50, 60).all()
    cpp = device_info(list(DEVICES.index)).set_index("name")
    for col in ("class", "flops", "memory_bytes", "storage_bytes", "energy_per_flop_j", "idle_power_w", "source"):
        assert cpp[col].tolist() == DEVICES[col].tolist(), col
    pd.testing.assert_series_equal(cpp["tx_power_dbm"], DEVICES["tx_power_dbm"], check_names=False)


def test_catalogue_covers_the_device_classes():
    expected = {"microcontroller", "single-board-computer", "embedded-gpu", "smartphone", "edge-server", "cloud"}
    assert set(DEVICES["class"]) == expected
    for name in ("cortex-m4", "cortex-m7", "raspberry-pi-4", "jetson-nano", "jetson-orin-nano", "smartphone",
                 "edge-gpu-server", "cloud-gpu"):
        device(name)
    # Microcontrollers: at most about 1 MB flash and a few hundred KB SRAM (seed digest section 3).
    mcu = DEVICES[DEVICES["class"] == "microcontroller"]
    assert (mcu["memory_bytes"] <= 512 * 1024).all() and (mcu["storage_bytes"] <= 2 * 1024 * 1024).all()
    # TinyML devices are orders of magnitude below edge devices in compute.
    assert DEVICES.loc["cortex-m4", "flops"] * 100 < DEVICES.loc["raspberry-pi-4", "flops"]


def test_unknown_device_refused_listing_names():
    with pytest.raises(KeyError, match="unknown device 'esp-9000'; devices are cortex-m4, cortex-m7"):
        device("esp-9000")
    with pytest.raises(ScenarioError, match="unknown device 'esp-9000'; devices are cortex-m4, cortex-m7"):
        device_info("esp-9000")


def test_split_feasibility_microcontroller_vs_jetson():
    mb = 1024 * 1024
    assert DEVICES.loc["cortex-m4", "memory_bytes"] == 256 * 1024
    assert not split_fits("cortex-m4", mb)
    assert split_fits("cortex-m4", 200 * 1024)
    assert split_fits("jetson-nano", mb)
    with pytest.raises(ValueError, match="infeasible split: the device part needs 1048576 bytes"):
        check_split("cortex-m4", mb)
    check_split("jetson-orin-nano", mb)
    # The C++ SplitFits agrees.
    cpp = device_info(["cortex-m4", "cortex-m7", "jetson-nano"], mb)
    assert cpp["split_fits"].tolist() == [False, False, True]
    with pytest.raises(ValueError, match="finite and >= 0"):
        split_fits("jetson-nano", -1)


def test_cpp_reader_names_line_and_column(tmp_path):
    text = catalogue_path().read_text().splitlines()
    header = next(i for i, line in enumerate(text) if line.startswith("name,"))
    bad = text[: header + 2] + [text[header + 2].replace(",2.16e8,", ",-5,")] + text[header + 3 :]
    path = tmp_path / "devices.csv"
    path.write_text("\n".join(bad) + "\n")
    line = header + 3  # 1-based line of the broken row
    with pytest.raises(ScenarioError, match=rf"line {line}, column 'flops': '-5' must be > 0"):
        query("device_info", {"name": np.bytes_(b"cortex-m4"), "path": np.bytes_(str(path).encode()),
                              "device_memory_bytes": 0.0})
    path.write_text("\n".join(text[: header + 1] + ["x,microcontroller,1,1"]) + "\n")
    with pytest.raises(ScenarioError, match=r"expected 10 fields"):
        query("device_info", {"name": np.bytes_(b"x"), "path": np.bytes_(str(path).encode()),
                              "device_memory_bytes": 0.0})
