"""Data: corpus reading and cleaning, tokenization, binarization, batching."""
