"""``ns6g bench soak``: a short soak reports its figures for every process and leaves nothing behind."""

from __future__ import annotations

import json

from ns6g.apps.cli import main


def test_short_soak_reports_every_process_and_leaves_nothing(capsys):
    assert main(["bench", "soak", "--seconds", "5", "--envs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["failures"] == [] and result["segments_left"] == [] and result["processes_left"] == []
    assert result["envs"] == 2 and result["steps"] > 0 and result["steps_per_s"] > 0
    assert result["resets"] >= 0 and result["warmup_s"] == 1.0
    roles = [p["role"] for p in result["processes"]]
    assert roles.count("main") == 1 and roles.count("worker") == 2 and roles.count("scenario") == 2
    for process in result["processes"]:  # every figure was measured, after the warm-up and at the end
        for key in ("rss_start_kb", "rss_end_kb", "fds_start", "fds_end"):
            assert isinstance(process[key], int) and process[key] > 0, (process, key)
        assert process["rss_growth_kb"] == process["rss_end_kb"] - process["rss_start_kb"]
    assert len({p["pid"] for p in result["processes"]}) == 5


def test_soak_table_names_its_figures(capsys):
    from ns6g.apps.bench import format_soak

    result = {"env_id": "ns6g/LinkControl-v0", "envs": 1, "seconds": 2.0, "warmup_s": 0.4, "reset_every": 100,
              "steps": 10, "measured_s": 1.6, "steps_per_s": 6.25, "resets": 0, "episodes_ended": 0,
              "processes": [{"role": "worker", "pid": 7, "rss_start_kb": 100, "rss_end_kb": 90, "rss_growth_kb": -10,
                             "fds_start": 5, "fds_end": 6}],
              "rss_growth_kb_max": -10, "rss_growth_kb_per_min_max": -375.0, "fds_growth_max": 1,
              "segments_left": ["ns6g-7-ab"], "processes_left": [], "failures": ["segments left: ns6g-7-ab"]}
    text = format_soak(result)
    assert "steps/s after warm-up: 6" in text and "-10" in text and "largest fd growth: +1" in text
    assert "1 /dev/shm/ns6g-* segments and 0 processes left" in text and "FAILED: segments left" in text
