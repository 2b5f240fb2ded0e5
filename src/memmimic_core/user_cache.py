"""The per-user folder for what every store can reuse (model exports, derived example vectors)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["model_cache_dir"]


def model_cache_dir() -> Path:
    """``$MEMMIMIC_MODEL_CACHE``, else ``models`` in the platform's user cache dir for memmimic."""
    env = os.environ.get("MEMMIMIC_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("memmimic", appauthor=False)) / "models"
