"""A light weak model: TF-IDF features and logistic regression (scikit-learn).

The regularisation strength is chosen by 5-fold cross-validation on the training data: a fixed
``C=1`` leaves TF-IDF models on a few hundred examples with probabilities near 0.5, i.e. soft
labels that carry almost no signal to a student (measured on SST-2: the student then learns to
output 0.5 everywhere).

Soft targets are fitted exactly, and scored candidates by a binary model and a softmax over the
candidates' log-odds (``w2s_bench.models.soft_targets``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.models.base import Loss
from w2s_bench.models.soft_targets import fit_weighted, predict_soft, soft_target_rows

CV_FOLDS = 5


class TfidfLogReg:
    # capability read by sweep plans: stratified 5-fold cross-validation needs 5 examples of each class
    min_examples_per_class = CV_FOLDS

    def __init__(self, Cs: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0), ngram_max: int = 2,
                 max_features: int = 100_000, seed: int = 0) -> None:
        self.vectorizer = TfidfVectorizer(ngram_range=(1, ngram_max), sublinear_tf=True, max_features=max_features)
        self.model = LogisticRegressionCV(Cs=list(Cs), cv=CV_FOLDS, scoring="neg_log_loss", max_iter=2000, random_state=seed)
        self._candidates = False

    def fit(self, train: Sequence[Example], targets: np.ndarray, val: Sequence[Example] = (),
            val_targets: np.ndarray | None = None, loss: Loss | None = None) -> TfidfLogReg:
        if loss is not None:
            raise W2SError("this method changes the training loss, which the TF-IDF model cannot use",
                           where="--weak/--strong", fix="use a transformer model for the model this method trains")
        self._candidates = train[0].is_candidates
        texts = [t for ex in train for t in ex.texts]  # one text per example, or per candidate
        items, labels, weights = soft_target_rows(targets, self._candidates)
        features = self.vectorizer.fit_transform([texts[i] for i in items])
        fit_weighted(self.model, features, labels, weights)
        self._num_classes = np.shape(targets)[1]
        return self

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        features = self.vectorizer.transform([t for ex in examples for t in ex.texts])
        return predict_soft(self.model, features, len(examples), self._num_classes, self._candidates)
