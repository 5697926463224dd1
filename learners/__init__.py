"""PyTorch learners of ns6g: the model zoo (``ns6g.learners.models``), shared with the layer profiles
of split computing (``ns6g.profiles``); offline data and partitions (``data``); the network interface
(``network``) and its no-network reference (``no_network``); transfer encodings (``wire``); the round
engine (``engine.FlJob``) and the FL / split-learning protocols (``protocols``). See docs/learners.md.
FTL, federated PEFT and the RL harness follow."""
