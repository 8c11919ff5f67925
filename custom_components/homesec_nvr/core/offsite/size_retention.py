"""Off-site retention by size: which day folders go so the copy fits its limit.

The copy's files are summed per day folder (`/<root>/<camera>/<YYYY-MM-DD>`); the oldest
day folders (any camera; never today's or a later one) are picked until the total is at
most the limit. Files outside day folders count toward the total but are never picked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from . import RemoteFile, parse_day

GB = 1024**3


@dataclass(frozen=True, slots=True)
class DayFolder:
    path: str
    day: date
    size: int


def day_folders(root: str, files: Iterable[RemoteFile]) -> tuple[int, list[DayFolder]]:
    """The total size below `root`, and its day folders oldest first (with their sizes)."""
    prefix = root.lower().rstrip("/") + "/"
    total = 0
    sizes: dict[tuple[date, str], int] = {}
    for file in files:
        total += file.size
        parts = file.path.removeprefix(prefix).split("/") if file.path.startswith(prefix) else []
        day = parse_day(parts[1]) if len(parts) > 2 else None
        if day is not None:
            key = (day, f"{prefix}{parts[0]}/{parts[1]}")
            sizes[key] = sizes.get(key, 0) + file.size
    folders = [DayFolder(path, day, size) for (day, path), size in sorted(sizes.items())]
    return total, folders


def over_the_limit(
    root: str, files: Iterable[RemoteFile], max_total_gb: float, today: date
) -> list[DayFolder]:
    """The day folders to delete, oldest first (none without a limit)."""
    if max_total_gb <= 0:
        return []
    limit = int(max_total_gb * GB)
    total, folders = day_folders(root, files)
    doomed: list[DayFolder] = []
    for folder in folders:
        if total <= limit or folder.day >= today:
            break
        doomed.append(folder)
        total -= folder.size
    return doomed
