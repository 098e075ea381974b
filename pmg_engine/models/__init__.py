"""Model definitions shared by training and inference: the MiniLM text side and the mini scorer.

Importing this package loads nothing: every model is built or read by an explicit call.
"""
