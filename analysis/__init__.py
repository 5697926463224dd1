"""Trace loading into pandas, plots and reports: not written yet."""
