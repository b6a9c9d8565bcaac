"""Byte counts as people read them, and sums of sizes that say what they could not include."""

from __future__ import annotations

from dataclasses import dataclass


def human_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"; exact bytes below 1 KiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024.0
        if value < 1000.0 or unit == "PiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SizeTotal:
    """A sum of download sizes that says which sizes it could not include."""

    known_bytes: int
    unknown: tuple[str, ...] = ()  # ids of sources with no known size
    approximate: tuple[str, ...] = ()  # ids whose size is a rounded published figure

    @property
    def complete(self) -> bool:
        return not self.unknown

    def describe(self) -> str:
        if self.unknown and not self.known_bytes:
            return f"unknown (no size published for: {', '.join(self.unknown)})"
        text = human_bytes(self.known_bytes)
        if self.approximate:
            text = "~" + text
        if not self.unknown:
            return text
        n = len(self.unknown)
        return (
            f"at least {text} ({n} source{'s' if n != 1 else ''} of unknown size: "
            f"{', '.join(self.unknown)})"
        )
