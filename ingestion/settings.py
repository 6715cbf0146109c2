"""Source settings checked when a run starts: a value out of range is one clear line naming
the setting and where it comes from, not a run that misbehaves or hangs."""

from __future__ import annotations

from collections.abc import Callable

RULES: dict[str, Callable[[float], bool]] = {
    "more than 0": lambda value: value > 0,
    "at least 1": lambda value: value >= 1,
    "0 or more": lambda value: value >= 0,
}


def check_settings(source: str, **settings: tuple[float, str]) -> None:
    """Each setting as `name=(value, rule)`, a rule of RULES; ValueError at the first broken."""
    for name, (value, rule) in settings.items():
        if not RULES[rule](value):  # NaN breaks every rule
            raise invalid_setting(source, name, value, rule)


def invalid_setting(source: str, name: str, value: object, rule: str) -> ValueError:
    where = f"SOURCES__{source.upper()}__{name.upper()}, or {name} under [sources.{source}]"
    return ValueError(f"{name} must be {rule}, not {value!r} (from {where} in .dlt/config.toml)")
