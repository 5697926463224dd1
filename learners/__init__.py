"""PyTorch learners of ns6g: the model zoo (``ns6g.learners.models``), shared with the layer profiles
of split computing (``ns6g.learners.profiles``); offline data and partitions (``data``); the network interface
(``network``), its co-simulation on ns-3 (``cosim``) and its no-network reference (``no_network``);
transfer encodings (``wire``); the round engine (``engine.FlJob``) and the protocols (``protocols``: FL,
split learning, federated PEFT, FTL); text models, offline text, PEFT adapters and transfer-learning losses
(``text_models``, ``text_data``, ``peft_adapters``, ``transfer``). See docs/learners.md and docs/peft.md."""
