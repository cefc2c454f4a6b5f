"""edgeclass.metrics agrees with scikit-learn and handles the edge cases reports run into."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeclass.metrics import (
    classification_report,
    confusion_matrix,
    normalize_rows,
    per_class_metrics,
    topk_accuracy,
)


def _random_case(seed=0, n=500, c=7):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    scores = rng.normal(size=(n, c))
    scores[np.arange(n), labels] += rng.normal(1.0, 1.0, n)  # better than chance, not perfect
    return scores, labels


def test_confusion_matrix_matches_sklearn():
    from sklearn.metrics import confusion_matrix as sk_cm

    scores, labels = _random_case()
    preds = scores.argmax(1)
    np.testing.assert_array_equal(confusion_matrix(labels, preds, 7), sk_cm(labels, preds, labels=range(7)))


def test_per_class_precision_recall_f1_match_sklearn():
    from sklearn.metrics import precision_recall_fscore_support

    scores, labels = _random_case(seed=1)
    preds = scores.argmax(1)
    names = [f"c{i}" for i in range(7)]
    ours = per_class_metrics(confusion_matrix(labels, preds, 7), names)
    p, r, f, s = precision_recall_fscore_support(labels, preds, labels=range(7), zero_division=0)
    np.testing.assert_allclose([m.precision for m in ours], p)
    np.testing.assert_allclose([m.recall for m in ours], r)
    np.testing.assert_allclose([m.f1 for m in ours], f)
    assert [m.support for m in ours] == list(s)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_accuracy_matches_sklearn(k):
    from sklearn.metrics import top_k_accuracy_score

    scores, labels = _random_case(seed=2)
    assert topk_accuracy(scores, labels, k) == pytest.approx(top_k_accuracy_score(labels, scores, k=k, labels=range(7)))


def test_topk_is_capped_at_class_count_and_empty_is_zero():
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert topk_accuracy(scores, [0, 0], 5) == 1.0  # k=5 with 2 classes: always right
    assert topk_accuracy(np.zeros((0, 3)), [], 1) == 0.0


def test_report_is_json_ready_and_never_nan_for_absent_class():
    scores = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0]])
    report = classification_report(scores, np.array([0, 1, 0]), ["a", "b", "never"])
    d = json.loads(json.dumps(report.to_dict()))  # must survive strict JSON
    assert d["top1"] == pytest.approx(2 / 3)
    assert d["per_class"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert d["per_class"]["a"]["recall"] == 0.5 and d["per_class"]["b"]["precision"] == 0.5
    assert d["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    # macro F1 averages only classes that occur (a=2/3, b=2/3)
    assert d["macro_f1"] == pytest.approx(2 / 3)


def test_normalize_rows_gives_recall_per_row_and_zero_for_empty_rows():
    cm = np.array([[3, 1], [0, 0]])
    np.testing.assert_allclose(normalize_rows(cm), [[0.75, 0.25], [0.0, 0.0]])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError):
        classification_report(np.zeros((2, 3)), [0, 1], ["a", "b"])


def test_logit_agreement_of_two_models_on_the_same_images():
    from edgeclass.metrics import logit_agreement

    ref = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.5]])
    got = np.array([[1.5, 0.0], [0.0, 1.0], [0.4, 0.5]])  # the last image flips class
    a = logit_agreement(ref, got)
    assert a["top1_agreement"] == pytest.approx(2 / 3)
    assert a["max_abs_diff"] == pytest.approx(0.6) and a["mean_abs_diff"] == pytest.approx(1.1 / 6)
    assert logit_agreement(np.zeros((0, 2)), np.zeros((0, 2)))["top1_agreement"] == 1.0
    with pytest.raises(ValueError):
        logit_agreement(ref, got[:2])
