"""A light weak model: TF-IDF features and logistic regression (scikit-learn).

The regularisation strength is chosen by 5-fold cross-validation on the training data: a fixed
``C=1`` leaves TF-IDF models on a few hundred examples with probabilities near 0.5, i.e. soft
labels that carry almost no signal to a student (measured on SST-2: the student then learns to
output 0.5 everywhere).

Soft targets are fitted exactly: each example appears once per class with the class probability
as its sample weight, which makes the logistic loss equal to the soft cross-entropy. For scored
candidates, a binary model rates each candidate ("is this the answer") and a softmax over the
candidates' log-odds gives the class distribution.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.models.base import Loss


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


class TfidfLogReg:
    def __init__(self, Cs: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0), ngram_max: int = 2,
                 max_features: int = 100_000, seed: int = 0) -> None:
        self.vectorizer = TfidfVectorizer(ngram_range=(1, ngram_max), sublinear_tf=True, max_features=max_features)
        self.model = LogisticRegressionCV(Cs=list(Cs), cv=5, scoring="neg_log_loss", max_iter=2000, random_state=seed)
        self._candidates = False

    def fit(self, train: Sequence[Example], targets: np.ndarray, val: Sequence[Example] = (),
            val_targets: np.ndarray | None = None, loss: Loss | None = None) -> TfidfLogReg:
        if loss is not None:
            raise W2SError("this method changes the training loss, which the TF-IDF model cannot use",
                           where="--weak/--strong", fix="use a transformer model for the model this method trains")
        self._candidates = train[0].is_candidates
        targets = np.asarray(targets, dtype=float)
        if self._candidates:  # each candidate: "is this the answer", weighted by its probability
            texts = [t for ex in train for t in ex.texts]
            probs = targets.reshape(-1)
            texts, labels, weights = texts * 2, [1] * len(probs) + [0] * len(probs), np.concatenate([probs, 1 - probs])
        else:
            k = targets.shape[1]
            texts = [ex.texts[0] for ex in train] * k
            labels = np.repeat(np.arange(k), len(train))
            weights = targets.T.reshape(-1)
        keep = np.asarray(weights) > 0
        features = self.vectorizer.fit_transform([t for t, kept in zip(texts, keep, strict=True) if kept])
        labels = np.asarray(labels)[keep]
        if len(np.unique(labels)) < 2:
            raise W2SError("the targets contain a single class, so a classifier cannot be fitted",
                           fix="check the task's labels (doc_to_target) and the --limit")
        with warnings.catch_warnings():  # scikit-learn announces API changes that do not affect this use
            warnings.simplefilter("ignore", FutureWarning)
            self.model.fit(features, labels, sample_weight=np.asarray(weights)[keep])
        self._num_classes = targets.shape[1]
        return self

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        if self._candidates:
            flat = self.vectorizer.transform([t for ex in examples for t in ex.texts])
            scores = self.model.decision_function(flat).reshape(len(examples), -1)
            return _softmax(scores)
        probs = np.zeros((len(examples), self._num_classes))
        probs[:, self.model.classes_] = self.model.predict_proba(self.vectorizer.transform([ex.texts[0] for ex in examples]))
        return probs
