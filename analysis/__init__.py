"""Traces into pandas: load run directories, answer the usual questions, draw them, write reports.

>>> from ns6g.analysis import load_run
>>> run = load_run("runs/my-run")
>>> run.steps.head()
"""

from ns6g.analysis.load import NotARunError, Run, RunSchemaError, RunSet, load_run, load_runs

__all__ = ["NotARunError", "Run", "RunSchemaError", "RunSet", "load_run", "load_runs"]
