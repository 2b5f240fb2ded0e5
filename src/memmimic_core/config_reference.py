"""Render the options of every registered backend as Markdown (docs/configuration.md)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .plugins import Backends

__all__ = ["backend_options_markdown"]

_SECTION = {"expander": "expanders.N"}
_KIND_TITLE = {
    "storage": "storage",
    "text_index": "text_index",
    "vector_index": "vector_index",
    "embedder": "embedder",
    "expander": "expanders",
    "ranker": "ranker",
    "cache": "cache",
    "classifier": "classifier",
}


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value: Any = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        text = json.dumps(value, default=str)
    except TypeError:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def backend_options_markdown(backends: Backends) -> str:
    """Return one table per backend: option key, default and meaning."""
    lines: list[str] = []
    for kind, registry in backends.registries.items():
        section = _SECTION.get(kind, kind)
        for entry in registry:
            model: type[BaseModel] | None = getattr(entry.cls, "Options", None)
            fields = getattr(model, "model_fields", {}) if model is not None else {}
            lines.append(f"### `{_KIND_TITLE[kind]}: {entry.name}` (plugin `{entry.plugin}`)")
            lines.append("")
            doc = (entry.cls.__doc__ or "").strip().splitlines()
            if doc:
                lines.extend([doc[0], ""])
            if not fields:
                lines.extend(["No options.", ""])
                continue
            lines.extend(["| key | default | meaning |", "|---|---|---|"])
            for name, field in fields.items():
                key = field.alias or name
                meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
                default = _default(field).replace("|", "\\|")
                lines.append(f"| `{section}.{key}` | `{default}` | {meaning} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


START, END = "<!-- backend-options:start -->", "<!-- backend-options:end -->"


def update_document(text: str, reference: str) -> str:
    """Return ``text`` with the part between the backend-options markers replaced by ``reference``."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{reference}\n{END}{tail}"


def main() -> None:
    """``python -m memmimic_core.config_reference FILE``: rewrite FILE's backend options section."""
    import sys
    from pathlib import Path

    from .plugins import build_plugin_manager, collect_backends

    path = Path(sys.argv[1])
    reference = backend_options_markdown(collect_backends(build_plugin_manager()))
    path.write_text(update_document(path.read_text(), reference))


if __name__ == "__main__":
    main()
