"""Traces into pandas: load run directories, answer the usual questions, draw them, write reports.

>>> from ns6g.analysis import load_run
>>> run = load_run("runs/my-run")
>>> run.steps.head()
"""

from ns6g.analysis.load import (
    DamagedPart,
    DamagedRunError,
    NotARunError,
    Run,
    RunSchemaError,
    RunSet,
    load_run,
    load_runs,
)
from ns6g.analysis.questions import (
    MissingColumnsError,
    agent_evaluation,
    agent_paired,
    allocation_heatmap,
    energy_per_device,
    learning_curve,
    per_ue_throughput,
    round_latency_cdf,
    split_layer_histogram,
    training_curve,
    training_losses,
)
from ns6g.analysis.report import DamagedRunWarning, write_report

from ns6g.analysis import questions

__all__ = ["DamagedPart", "DamagedRunError", "DamagedRunWarning", "NotARunError", "Run", "RunSchemaError", "RunSet",
           "load_run", "load_runs", "write_report",
           *questions.__all__]
