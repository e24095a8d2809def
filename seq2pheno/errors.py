"""One clear error for bad input: which file, which line or sample, what was expected."""

from __future__ import annotations

import os


class InputError(ValueError):
    """Bad user input. ``str(err)`` is one line: ``file:line: message`` or ``file: sample X: message``."""

    def __init__(self, path: str | os.PathLike | None, message: str, *, line: int | None = None,
                 sample: str | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.sample = sample
        where = self.path or "input"
        if line is not None:
            where = f"{where}:{line}"
        if sample is not None:
            where = f"{where}: sample {sample!r}"
        super().__init__(f"{where}: {message}".replace("\n", " "))


def require_file(path: str | os.PathLike, what: str = "file") -> None:
    """Raise InputError unless ``path`` is an existing, non-empty regular file."""
    if not os.path.exists(path):
        raise InputError(path, f"{what} does not exist")
    if not os.path.isfile(path):
        raise InputError(path, f"{what} is not a regular file")
    if os.path.getsize(path) == 0:
        raise InputError(path, f"{what} is empty")
