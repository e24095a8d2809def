"""Atomic writes: a file appears at its path only when it is complete.

``with atomic_path(path) as tmp:`` yields a temporary path in the same folder (hidden, same
suffix, so writers that look at the extension — ``np.save``, Keras — keep it); on success it
is renamed onto ``path``, on any error it is removed and ``path`` is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.unlink(tmp)  # writers create it themselves (Keras refuses to overwrite some files)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_tsv(df: pd.DataFrame, path) -> None:
    """A DataFrame as TSV with a header, no index, NaN as an empty field."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="")


def json_default(value):
    """JSON encoder hook: numpy scalars and arrays as Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_json(obj, path) -> None:
    """A small summary as indented JSON (numpy scalars and arrays converted)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=json_default)
        fh.write("\n")


def read_json(path):
    """A JSON file as Python objects."""
    with open(path) as fh:
        return json.load(fh)


def write_text(text: str, path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
