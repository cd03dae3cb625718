"""yiyan (译言): build your own neural machine translation models."""

__version__ = "0.1.0"
