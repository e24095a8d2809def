"""Logging for workflow steps: every line goes to the rule's log file and to stderr.

Scripts wrap their body in ``with step_log(path) as log:``. An :class:`InputError` is written
as one line (``ERROR: file:line: message``) and the process exits with status 1, without a
traceback; other exceptions keep their traceback in the log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

from .errors import InputError


@contextlib.contextmanager
def step_log(path: str | Path | None, name: str = "seq2pheno"):
    """Yield a :class:`logging.Logger` writing to ``path`` (if given) and stderr."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    start = time.time()
    try:
        yield logger
    except InputError as err:
        logger.error("%s", err)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("step failed")
        raise
    else:
        logger.info("done in %.1f s", time.time() - start)
    finally:
        for h in handlers:
            h.flush()
            logger.removeHandler(h)
            if isinstance(h, logging.FileHandler):
                h.close()
