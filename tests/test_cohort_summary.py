"""seq2pheno.cohort_summary: intervals over folds stay within the range of their metric."""

import numpy as np
import pytest

from seq2pheno.cohort_summary import _fold_interval


def test_fold_interval_is_clipped_to_the_metric_range():
    values = np.array([0.95, 0.30])                    # two folds: a wide t interval
    raw = _fold_interval(values, 200, 200)
    assert raw["upper"] > 1                           # the t interval alone leaves the range
    for metric in ("r2", "pearson_r"):
        clipped = _fold_interval(values, 200, 200, metric)
        assert clipped["upper"] == 1.0 and clipped["value"] == pytest.approx(0.625)
    assert _fold_interval(values, 200, 200, "r2")["lower"] == raw["lower"]   # R² has no lower bound
    assert _fold_interval(-values, 200, 200, "pearson_r")["lower"] == -1.0
