"""Versioned migration scripts, oldest first: ``mNNNN_<what>.py``."""
