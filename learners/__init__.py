"""PyTorch learners of ns6g. So far the model zoo (``ns6g.learners.models``), shared with the layer
profiles of split computing (``ns6g.profiles``); the FL/SL/FSL/FTL jobs and the training harness follow."""
