"""Training: loop, optimizer and schedule, checkpoints, logging."""
