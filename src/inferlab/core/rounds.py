"""Which MLPerf round an installed LoadGen serves (rules file §1.5, §8.1).

The authoritative check reads the effective seeds from a LoadGen log; this maps the version
string as a first answer and knows each round's seeds to confirm it.
"""

from __future__ import annotations

SEEDS: dict[str, tuple[int, int, int]] = {
    "v4.1": (3066443479025735752, 10688027786191513374, 14962580496156340209),
    "v5.0": (6023615788873153749, 15036839855038426416, 9933818062894767841),
    "v5.1": (1780908523862526354, 14771362308971278857, 18209322760996052031),
    "v6.0": (2465351861681999779, 14276810075590677512, 3936089224930324775),
    "v6.1": (2085463073848966840, 2747215439041700203, 16159082839903944936),
}


def round_for_seeds(qsl: int, sample_index: int, schedule: int) -> str | None:
    for name, seeds in SEEDS.items():
        if seeds == (qsl, sample_index, schedule):
            return name
    return None


def round_for_version(version: str) -> str | None:
    try:
        parts = [int(p) for p in version.split(".")[:3]]
    except ValueError:
        return None
    while len(parts) < 3:
        parts.append(0)
    major, minor, patch = parts
    if (major, minor) == (6, 0):
        if patch >= 16:
            return "v6.1"
        if patch >= 5:
            return "v6.0"
        return None
    if (major, minor) in ((5, 1), (5, 0), (4, 1)):
        return f"v{major}.{minor}"
    return None
