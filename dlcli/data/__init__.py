"""Data: one module per source (``sources/``), reading tables (``table``, ``cells``), streaming (``stream``),
splits, the model's input signature (``features``), and ``load`` (read, check, split).

This package file imports nothing, so that any part can be imported alone.
"""
