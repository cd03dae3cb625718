"""Importers: published pretrained models → ordinary yiyan run directories.

`marian.import_marian` reads a Hugging Face MarianMT (OPUS-MT) folder; the run it writes is
used by translate, evaluate, attention, export, serve and finetune unchanged.
"""

from __future__ import annotations
