"""MemMimic's default plugins, written exactly as a third party would write them.

Each module here is one plugin: functions marked ``@memmimic_core.hookimpl`` that register
backend classes, declared as an entry point of group ``memmimic`` in ``pyproject.toml``.
The core never imports this package; it finds these modules through their entry points.
"""
