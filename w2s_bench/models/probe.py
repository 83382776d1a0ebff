"""Probes on frozen features: logistic regression or kNN on a featurizer's embeddings.

A cheap weak-to-strong baseline (e.g. EleutherAI's w2s): the strong model is not trained at all,
a small classifier reads its hidden states (``HFEstimator.embed``, or any object with an ``embed``
method). Features are standardised, because hidden states have a few huge dimensions that would
otherwise dominate both the regularisation and the cosine distance.

* ``logreg``: soft targets fitted exactly by duplicated weighted rows (``soft_targets``), the
  regularisation chosen by 5-fold cross-validation like the TF-IDF model. The folds keep every
  example's rows together: a copy of an example in the held-out fold would otherwise reward
  memorising it and bias the choice towards weak regularisation.
* ``knn``: the mean soft target of the k nearest training items (cosine distance).

Scored candidates are rated one by one ("is this the answer") and a softmax over the candidates'
log-odds gives the class distribution, as in the TF-IDF model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from w2s_bench.errors import W2SError
from w2s_bench.examples import Example
from w2s_bench.models.base import Loss
from w2s_bench.models.soft_targets import fit_weighted, predict_soft, soft_target_rows, softmax

KINDS = ("logreg", "knn")
CV_FOLDS = 5
# what each kind needs per class to be fitted: cross-validation folds (logreg); any example (kNN)
MIN_EXAMPLES_PER_CLASS = {"logreg": CV_FOLDS, "knn": 1}


class Featurizer(Protocol):
    def embed(self, examples: Sequence[Example]) -> np.ndarray: ...


class ProbeEstimator:
    """Estimator interface on frozen features; ``val`` is not used (cross-validation picks ``C``).

    The default ``Cs`` reach further into strong regularisation than the TF-IDF model's: dense
    features often have more dimensions than there are training examples.
    """

    def __init__(self, featurizer: Featurizer, kind: str = "logreg", k: int = 10,
                 Cs: tuple[float, ...] = (1e-3, 1e-2, 0.1, 1.0, 10.0), seed: int = 0) -> None:
        if kind not in KINDS:
            raise W2SError(f"unknown probe kind {kind!r}", fix=f"use one of {KINDS}")
        self.featurizer, self.kind, self.k, self.Cs, self.seed = featurizer, kind, k, Cs, seed
        self.scaler = StandardScaler()

    @property
    def min_examples_per_class(self) -> int:
        return MIN_EXAMPLES_PER_CLASS[self.kind]

    def _items(self, examples: Sequence[Example]) -> np.ndarray:
        """One feature row per example, or per candidate (flattened) for candidates."""
        features = self.featurizer.embed(examples)
        return features.reshape(-1, features.shape[-1])

    def fit(self, train: Sequence[Example], targets: np.ndarray, val: Sequence[Example] = (),
            val_targets: np.ndarray | None = None, loss: Loss | None = None) -> ProbeEstimator:
        if loss is not None:
            raise W2SError("this method changes the training loss, which a probe on frozen features cannot use",
                           where="--methods", fix="use a finetuning method with this loss, or the probe with its own")
        self._candidates, self._num_classes = train[0].is_candidates, targets.shape[1]
        features = self.scaler.fit_transform(self._items(train))
        if self.kind == "knn":  # per item: the soft target, or the candidate's probability of being the answer
            self._train_targets = np.asarray(targets, dtype=float).reshape(len(features), -1)
            self.neighbors = NearestNeighbors(n_neighbors=min(self.k, len(features)), metric="cosine").fit(features)
            return self
        items, labels, weights = soft_target_rows(targets, self._candidates)
        groups = items // (targets.shape[1] if self._candidates else 1)  # the example each row comes from
        folds = list(GroupKFold(n_splits=CV_FOLDS).split(items, labels, groups))
        self.model = LogisticRegressionCV(Cs=list(self.Cs), cv=folds, scoring="neg_log_loss", max_iter=2000,
                                          random_state=self.seed)
        fit_weighted(self.model, features[items], labels, weights)
        return self

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        features = self.scaler.transform(self._items(examples))
        if self.kind == "logreg":
            return predict_soft(self.model, features, len(examples), self._num_classes, self._candidates)
        neighbours = self.neighbors.kneighbors(features, return_distance=False)
        means = self._train_targets[neighbours].mean(axis=1)  # [items, K], or [items, 1] for candidates
        if not self._candidates:
            return means
        p = np.clip(means.reshape(len(examples), -1), 1e-6, 1 - 1e-6)
        return softmax(np.log(p) - np.log1p(-p))
