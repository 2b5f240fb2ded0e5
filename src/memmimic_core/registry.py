"""Typed registries: plugins register backend classes by name; the config picks one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, DuplicatePluginError, UnknownPluginError

__all__ = ["BackendRegistry", "Registration", "format_validation_error"]

T = TypeVar("T")


@dataclass(frozen=True)
class Registration(Generic[T]):
    """A backend class and the plugin that registered it."""

    name: str
    cls: type[T]
    plugin: str


class BackendRegistry(Generic[T]):
    """The backends of one plugin kind, by name.

    A plugin's registration hook receives a bound registry and calls it with each backend
    class: ``register(MyBackend)``. The class's ``name`` attribute is its config name.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Registration[T]] = {}
        self._plugin = "<unknown>"

    def bind(self, plugin: str) -> BackendRegistry[T]:
        """Return this registry set to record ``plugin`` as the origin of what follows."""
        self._plugin = plugin
        return self

    def __call__(self, cls: type[T]) -> type[T]:
        """Register ``cls`` under ``cls.name``; usable as a decorator."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls!r} needs a non-empty `name: ClassVar[str]` to be a {self.kind} backend")
        if name in self._entries:
            raise DuplicatePluginError(self.kind, name, self._entries[name].plugin, self._plugin)
        self._entries[name] = Registration(name, cls, self._plugin)
        return cls

    add = __call__

    @property
    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(self._entries[name] for name in self.names)

    def registration(self, name: str) -> Registration[T]:
        """Return the registration of ``name``.

        :raises UnknownPluginError: nothing registered that name.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownPluginError(self.kind, name, self._entries) from None

    def get(self, name: str) -> type[T]:
        """Return the backend class registered as ``name``."""
        return self.registration(name).cls

    def validate_options(self, name: str, options: Mapping[str, Any], key_path: str) -> BaseModel:
        """Validate ``options`` against the backend's ``Options`` model.

        :raises ConfigError: naming the key path, the bad value and what is allowed.
        """
        cls = self.get(name)
        model: type[BaseModel] | None = getattr(cls, "Options", None)
        if model is None:
            if options:
                keys = ", ".join(sorted(options))
                raise ConfigError(
                    f"{key_path}: the {self.kind} backend {name!r} takes no options (got {keys})"
                )
            return BaseModel()
        try:
            return model.model_validate(dict(options))
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, key_path, model)) from None

    def create(self, name: str, options: Mapping[str, Any], context: Any, key_path: str) -> T:
        """Validate options and build the backend ``name``."""
        validated = self.validate_options(name, options, key_path)
        cls = self.get(name)
        return cls(validated, context)  # type: ignore[call-arg]


def format_validation_error(
    exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """Turn a pydantic error into ``key.path: problem (got value)`` lines joined by ``; ``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"][:-1])
            lines.append(f"{path}: unknown key" + (f" (allowed: {allowed})" if allowed else ""))
            continue
        shown = repr(err.get("input"))
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{path}: {err['msg']} (got {shown})")
    return "; ".join(lines)


def _allowed_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """Return the field names allowed at ``loc`` inside ``model``, comma-separated."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return ""
        current = fields[part].annotation
    fields = getattr(current, "model_fields", None)
    return ", ".join(sorted(fields)) if fields else ""
