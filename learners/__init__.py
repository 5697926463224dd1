"""PyTorch learners (FL, split, FSL, FTL) and the RL training harness: not written yet."""
