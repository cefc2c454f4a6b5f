"""Training: models, freezing / gradual unfreezing, the training loop, checkpoints, resume, DDP."""
