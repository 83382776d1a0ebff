"""The results format: typed, versioned run records (``types``), their one reader (``reader``), and the JSON
Schemas generated from them (``schema``, shipped in ``w2s_bench/schemas/``). See ``types`` for the layout
of a results folder and the version history."""

from w2s_bench.records.codec import FieldError, from_json, to_json
from w2s_bench.records.reader import parse_record, read_results, read_samples, results_folder
from w2s_bench.records.supervision import (
    ChainLink,
    ChainSupervision,
    DemonstrationSupervision,
    EnsembleMember,
    EnsembleSupervision,
    SingleSupervision,
    SupervisionInfo,
)
from w2s_bench.records.types import (
    SAMPLE_TYPES,
    SCHEMA_VERSION,
    ArtefactRef,
    CellConfig,
    ClassificationSample,
    DataInfo,
    FailedRun,
    GenerationSample,
    GitState,
    Hardware,
    JudgeRecord,
    MethodComparison,
    Provenance,
    Record,
    RunRecord,
    Sample,
    SplitSizes,
    TrainingLog,
)

__all__ = ["SAMPLE_TYPES", "SCHEMA_VERSION", "ArtefactRef", "CellConfig", "ChainLink", "ChainSupervision",
           "ClassificationSample", "DataInfo", "DemonstrationSupervision", "EnsembleMember", "EnsembleSupervision",
           "FailedRun", "FieldError", "GenerationSample", "GitState", "Hardware", "JudgeRecord", "MethodComparison",
           "Provenance", "Record", "RunRecord", "Sample", "SingleSupervision", "SplitSizes", "SupervisionInfo",
           "TrainingLog", "from_json", "parse_record", "read_results", "read_samples", "results_folder", "to_json"]
