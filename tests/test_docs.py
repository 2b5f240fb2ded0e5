"""Documentation that cannot rot: every config key and every backend option is documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from memmimic_core.config import MemMimicConfig
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


def test_every_backend_option_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    backends = collect_backends(build_plugin_manager(environ={}))
    missing = []
    for kind, registry in backends.registries.items():
        section = "expanders.N" if kind == "expander" else kind
        for entry in registry:
            options = getattr(entry.cls, "Options", None)
            for name in getattr(options, "model_fields", {}):
                if f"`{section}.{name}`" not in text:
                    missing.append(f"{section}.{name} ({entry.name})")
    assert missing == [], f"undocumented backend options: {missing}"
