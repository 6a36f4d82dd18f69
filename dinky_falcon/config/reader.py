"""Reading variables: text, booleans, bounded numbers, ports, lists and choices, each refused
at start with one line naming the variable and the value (never a secret's value)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import ConfigError

TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})


class Reader:
    """Reads variables from a mapping, collecting warnings on the way."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.warnings: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        value = self.env.get(name, "").strip()
        return value or default

    def renamed(self, old: str, new: str, default: str = "") -> str:
        if self.env.get(old, "").strip():
            if self.env.get(new, "").strip():
                self.warnings.append(f"{old} is ignored because {new} is set")
            else:
                self.warnings.append(f"{old} is deprecated: rename it to {new}")
                return self.text(old, default)
        return self.text(new, default)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if not value:
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean: use yes/no, true/false or 1/0")

    def number(self, name: str, default: float, kind=int, low=1, high=None, value=None):
        value = self.text(name) if value is None else value
        if not value:
            return default
        try:
            number = kind(value)
        except ValueError:
            number = None
        # nan compares false with everything, so it would pass both bounds: refused first.
        if (
            number is None
            or not math.isfinite(number)
            or number < low
            or (high is not None and number > high)
        ):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            article = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{name}={value!r} is not {article} {bounds}")
        return number

    def port(self, name: str, default: int, legacy: str | None = None) -> int:
        value = self.renamed(legacy, name) if legacy else self.text(name)
        return self.number(name, default, int, 1, 65535, value=value)

    def words(self, name: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in self.text(name).split(",") if w.strip())

    def choice(self, name: str, default: str, allowed) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} must be one of: {', '.join(sorted(allowed))}")
        return value

    @staticmethod
    def sendable_credential(name: str, value: str) -> str:
        """``value`` when SMTP AUTH can send it: smtplib encodes the login as ASCII and would
        fail at the first message (never naming a character of it here: it may be a secret)."""
        if not all(" " <= c <= "~" for c in value):
            raise ConfigError(
                f"{name} holds a character outside printable ASCII, which SMTP AUTH cannot "
                "send: check it was copied without accents, curly quotes or invisible characters"
            )
        return value

    def parsed(self, name: str, parse, value=None):
        """``parse(value)`` with its ValueError turned into a ConfigError naming ``name``."""
        value = self.text(name) if value is None else value
        try:
            return parse(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
