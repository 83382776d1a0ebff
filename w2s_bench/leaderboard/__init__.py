"""The leaderboard: a typed board of submissions, task rows and the ranking, and the static site
that shows it (``w2s-bench leaderboard build``). Nothing else in w2s_bench imports this package.

- :mod:`.board`: the dataclasses the site renders, and ``board.json`` (write, read back);
- :mod:`.from_results`: a board from run records (``results.json``), until submissions exist;
- :mod:`.figures`: the site's figures as plotly.js specifications;
- :mod:`.site`: ``build_site(board, output_dir)``, the static HTML;
- :mod:`.cli`: the ``w2s-bench leaderboard`` verbs.
"""

from w2s_bench.leaderboard.board import Board, ModelInfo, RankingRow, Submission, TaskRow, board_from_json, read_board

__all__ = ["Board", "ModelInfo", "RankingRow", "Submission", "TaskRow", "board_from_json", "read_board"]
