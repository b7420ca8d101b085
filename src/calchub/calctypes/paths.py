"""Glob patterns with one meaning everywhere: uploads, kept files and clean-up.

As in ``pathlib``: ``*`` stays within one folder, ``**`` spans any number of
folders, so ``*.dat`` matches only top-level files and ``out/*`` only files
directly in ``out``. The agent uploads kept files with ``Path.glob``, which
reads them the same way.
"""

from __future__ import annotations

import fnmatch


def glob_match(path: str, pattern: str) -> bool:
    return _match(path.split("/"), pattern.split("/"))


def _match(parts: list[str], patterns: list[str]) -> bool:
    if not patterns:
        return not parts
    head, rest = patterns[0], patterns[1:]
    if head == "**":
        return any(_match(parts[i:], rest) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match(parts[1:], rest)


def any_match(path: str, patterns: list[str]) -> bool:
    return any(glob_match(path, p) for p in patterns)
