"""How a w2s student's labels were made: a tagged union, one type per way a method supervises.

Methods return one of these in ``Supervision.info``; it is stored with the student's artefact and
copied into the run record's ``supervision``, so the tables read a type instead of probing keys.
Because cached artefacts hold these objects, this module is part of the artefacts' code fingerprint
(``w2s_bench.cache.NUMBER_MODULES``): changing a field makes new keys instead of unreadable entries.

``label_accuracy`` is the accuracy, against ground truth never used in training, of the train_b labels
the student was trained on; the protocol fills it in after the method made the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(kw_only=True)
class SingleSupervision:
    """One weak supervisor's labels (naive, logconf, product, probes, ...)."""

    kind: Literal["single"] = "single"
    label_accuracy: float | None = None


@dataclass(kw_only=True)
class EnsembleMember:
    """One supervisor of an ensemble: its model, member index (another seed and resample) and test accuracy;
    ``estimated_reliability`` is Dawid-Skene's estimate of its accuracy, made without ground truth."""

    model: str
    member: int
    test_acc: float
    estimated_reliability: float | None = None


@dataclass(kw_only=True)
class EnsembleSupervision:
    """Several supervisors' labels combined (``combine``: mean, vote, dawid_skene)."""

    kind: Literal["ensemble"] = "ensemble"
    members: list[EnsembleMember] = field(default_factory=list)
    combine: str
    supervisor_test_acc: float
    label_accuracy: float | None = None


@dataclass(kw_only=True)
class ChainLink:
    """One link of a bootstrap chain: its test accuracy and the accuracy of the labels it handed on."""

    model: str
    test_acc: float
    label_acc: float


@dataclass(kw_only=True)
class ChainSupervision:
    """Labels passed along a chain weak -> via... -> the student (``chain[0]`` is the weak supervisor)."""

    kind: Literal["chain"] = "chain"
    chain: list[ChainLink] = field(default_factory=list)
    label_accuracy: float | None = None


@dataclass(kw_only=True)
class DemonstrationSupervision:
    """A generation student's training data: ``kept`` of train_b's ``offered`` weak demonstrations, chosen by
    ``selection`` ("all" for naive SFT; a filter says its rule)."""

    kind: Literal["demonstrations"] = "demonstrations"
    kept: int
    offered: int
    selection: str = "all"
    label_accuracy: float | None = None  # no ground truth to compare text with: always None


SupervisionInfo = SingleSupervision | EnsembleSupervision | ChainSupervision | DemonstrationSupervision
