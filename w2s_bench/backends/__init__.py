"""Where a sweep's cells run. The default is this process, one cell after another
(``w2s_bench.evaluator``); ``ray_cells`` runs them as tasks of a Ray cluster. Every backend runs the
same single-cell sweep per cell over one shared artefact store, so the results are the same."""
