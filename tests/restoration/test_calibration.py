"""The document model: the restorer's per-article linear form is the model the fit wrote."""

import pytest

from workers.restoration.calibration import Calibration, doc_features


@pytest.mark.parametrize("llr, n_tokens, top", [(12.5, 700, 9.0), (-3.0, 40, 0.0), (4.0, 3, 6.0), (0.0, 1, 0.0)])
def test_doc_logit_is_the_fitted_weights_over_doc_features(llr, n_tokens, top):
    cal = Calibration.load()  # the shipped fit
    assert cal.doc_weights, "the shipped calibration has a document model"
    w = cal.doc_weights
    fitted = w[0] + sum(a * x for a, x in zip(w[1:], doc_features(llr, n_tokens, top)))
    assert cal.doc_logit(llr, n_tokens, top) == pytest.approx(fitted, abs=1e-9)


def test_without_doc_weights_the_platt_form_is_used():
    cal = Calibration(doc_a=2.0, doc_b=-1.0)
    assert cal.doc_logit(9.0, 9) == pytest.approx(2.0 * 9.0 / 3.0 - 1.0)
