"""Documentation that cannot rot: every config key and every backend option is documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from memmimic_core.config import MemMimicConfig
from memmimic_core.config_reference import backend_options_markdown, update_document
from memmimic_core.plugins import build_plugin_manager, collect_backends

DOCS = Path(__file__).parent.parent / "docs"


def config_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from config_keys(annotation, f"{key}.")


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [key for key in config_keys(MemMimicConfig) if f"`{key}`" not in text]
    assert missing == [], f"undocumented config keys: {missing}"


def test_backend_options_reference_is_current() -> None:
    """docs/configuration.md carries the generated reference of every installed backend's options."""
    text = (DOCS / "configuration.md").read_text()
    reference = backend_options_markdown(collect_backends(build_plugin_manager(environ={})))
    assert update_document(text, reference) == text, (
        "docs/configuration.md is stale: run `.venv/bin/python -m memmimic_core.config_reference "
        "docs/configuration.md`"
    )
