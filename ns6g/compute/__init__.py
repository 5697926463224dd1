"""The compute layer: device profiles (FLOPS, memory, power), model layer-profile files and split points.
It may import ns6g.core and ns6g.radio, never envs, learners, analysis or apps."""
