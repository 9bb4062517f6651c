"""edgebench model zoo: build models from architecture configs, convert, quantise and analyse them.

Host-side only; heavy dependencies (torch, transformers, litert-torch) are imported lazily.
"""
