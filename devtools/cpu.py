"""CPU used by processes on this machine, read from /proc: only meaningful on an idle machine."""

from __future__ import annotations

import os


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(name, parent pid, utime + stime ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def _all() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def ticks(*, names: tuple[str, ...] = (), root: int | None = None) -> dict[int, int]:
    """Ticks used so far by each process named like ``names`` or descending from ``root``."""
    every = _all()
    tree: set[int] = set()
    if root is not None and root in every:
        tree.add(root)
        grew = True
        while grew:
            grew = False
            for pid, (_name, parent, _t) in every.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
    return {
        pid: used
        for pid, (name, _parent, used) in every.items()
        if pid in tree or (names and name.startswith(names))
    }


def seconds_since(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds used between two readings: by the processes alive at both, and all of it by
    those started meanwhile (a database backend for a new connection). Processes that came and
    went between the readings, such as autovacuum workers, are not seen."""
    used = sum(after[pid] - before.get(pid, 0) for pid in after)
    return used / os.sysconf("SC_CLK_TCK")
