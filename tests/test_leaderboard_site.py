"""The leaderboard site: the board model and board.json, the figures' specifications, the files a build
writes, and the page itself in a real headless browser (Debian's chromium through selenium).

The browser tests need `selenium` (the `test` and `dev` extras) and the Debian packages `chromium` and
`chromium-driver` (.ci/run installs them); they are skipped, saying which is missing, only without them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fakes import fake_record

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.leaderboard import Board, ModelInfo, RankingRow, Submission, TaskRow, board_from_json, read_board
from w2s_bench.leaderboard.board import page_stem
from w2s_bench.leaderboard.figures import accuracy_per_task, figures, methods_side_by_side, misfit_vs_gain, pgr_vs_size
from w2s_bench.leaderboard.from_results import UNRANKED, board_from_results
from w2s_bench.leaderboard.site import build_site
from w2s_bench.records import to_json

EVIL = "<script>alert(1)</script>"
FAMILIES = {"sst2": "nlp", "imdb": "nlp", "chess": "chess", "jigsaw_toxicity": "safety"}


def _row(submission: str, task: str, weak: float, ceiling: float, w2s: float, *, flag: str | None = None,
         seeds: tuple[int, ...] = (0, 1, 2)) -> TaskRow:
    pgr = None if flag else (w2s - weak) / (ceiling - weak)
    return TaskRow(submission=submission, family=FAMILIES[task], task=task, seeds=seeds, weak=weak, ceiling=ceiling,
                   w2s=w2s, pgr=pgr, pgr_ci=None if pgr is None else (pgr - 0.2, pgr + 0.15), pgr_flag=flag,
                   gain=round(0.02 + (w2s - weak) / 4, 4), misfit=round(0.05 + (ceiling - w2s) / 5, 4))


def seeded_board() -> Board:
    """Three complete submissions over four tasks in three families, one partial submission whose
    text is hostile markup, and one undefined PGR (charlie on chess)."""
    tfidf, l1 = ModelInfo("tfidf", None, 1e5), ModelInfo("minilm-l1", "f00dfeed", 13.8e6)
    l6, mpnet = ModelInfo("minilm-l6", "0a1b2c3d", 22.7e6), ModelInfo("mpnet-base", "9e8d7c6b", 109.5e6)
    submissions = (
        Submission("bravo", "Lab B", "2025-02-01", tfidf, mpnet, "logconf(alpha_max=0.5)", {"alpha_max": 0.5},
                   "1x A100", "confidence loss"),
        Submission("alpha", "Lab A", "2025-01-10", tfidf, l6, "naive", {}, "2 CPU cores", "the baseline"),
        Submission("charlie", "Lab C", "2025-03-05", l1, mpnet, "naive", {}, "1x T4", ""),
        Submission(f"evil{EVIL}", f"<b>mallory</b>{EVIL}", "2025-04-01", tfidf, l6, "naive",
                   {"note": EVIL}, EVIL, f'{EVIL} & <img src=x onerror="alert(2)"> "quoted"'),
    )
    rows = (
        _row("alpha", "sst2", 0.68, 0.80, 0.76), _row("alpha", "imdb", 0.70, 0.86, 0.78),
        _row("alpha", "chess", 0.40, 0.52, 0.45), _row("alpha", "jigsaw_toxicity", 0.73, 0.87, 0.70),
        _row("bravo", "sst2", 0.68, 0.88, 0.84), _row("bravo", "imdb", 0.70, 0.90, 0.85),
        _row("bravo", "chess", 0.40, 0.60, 0.52), _row("bravo", "jigsaw_toxicity", 0.73, 0.89, 0.80),
        _row("charlie", "sst2", 0.66, 0.88, 0.70), _row("charlie", "imdb", 0.69, 0.90, 0.72),
        _row("charlie", "chess", 0.50, 0.51, 0.50, flag="gap_not_significant"),
        _row("charlie", "jigsaw_toxicity", 0.75, 0.89, 0.76),
        _row(f"evil{EVIL}", "sst2", 0.68, 0.80, 0.75, seeds=(0,)), _row(f"evil{EVIL}", "chess", 0.40, 0.52, 0.47, seeds=(0,)),
    )
    ranking = (
        RankingRow("bravo", 1, "ranked", 0.62, (0.48, 0.74), {"chess": 0.60, "nlp": 0.77, "safety": 0.44}, 4),
        RankingRow("alpha", 2, "ranked", 0.31, (0.12, 0.49), {"chess": 0.42, "nlp": 0.57, "safety": -0.21}, 4),
        RankingRow("charlie", 3, "ranked", 0.11, (-0.05, 0.27), {"chess": None, "nlp": 0.16, "safety": 0.07}, 4),
        RankingRow(f"evil{EVIL}", None, "unranked (partial)", 0.61, None, {"chess": 0.58, "nlp": 0.58}, 2),
    )
    return Board(title="w2s leaderboard (test board)", generated="2025-05-01T12:00:00+00:00",
                 suite=tuple(FAMILIES), families=("chess", "nlp", "safety"), submissions=submissions, rows=rows,
                 ranking=ranking, about="Hand-made rows for the tests.")


# ------------------------------------------------------------------------------------------
# The board and board.json
# ------------------------------------------------------------------------------------------


def test_board_json_round_trips():
    board = seeded_board()
    again = board_from_json(board.to_json())
    assert again == board
    assert json.loads(board.to_json())["version"] == board.version


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("rows"), "missing field board.rows"),
    (lambda d: d["rows"][3].update(pgr="high"), r"board.rows\[3\].pgr must be a number, got 'high'"),
    (lambda d: d["rows"][2].update(seeds=[0, "1"]), r"board.rows\[2\].seeds must be a list of integers"),
    (lambda d: d["ranking"][0].update(mean_pgr_ci=[0.1]), r"board.ranking\[0\].mean_pgr_ci must be \[low, high\]"),
    (lambda d: d["submissions"][1]["strong"].pop("id"), r"missing field board.submissions\[1\].strong.id"),
    (lambda d: d.update(version=99), "board version 99"),
    (lambda d: d["rows"][0].update(submission="nobody"), "unknown submission 'nobody'"),
])
def test_a_wrong_board_file_names_the_field(tmp_path, edit, message):
    data = json.loads(seeded_board().to_json())
    edit(data)
    path = tmp_path / "board.json"
    path.write_text(json.dumps(data))
    with pytest.raises(W2SError, match=message):
        read_board(path)


def test_page_names_stay_inside_the_submissions_folder():
    assert page_stem("../../etc/passwd") == "-..-etc-passwd"  # no slash left, no leading dot
    assert page_stem(".hidden") == "hidden"
    assert page_stem(f"evil{EVIL}") == "evil-script-alert-1-script-"
    with pytest.raises(W2SError, match="would share the page a-b.html"):
        board = seeded_board()
        dataclasses.replace(board, submissions=(*board.submissions, dataclasses.replace(board.submissions[0], name="a b"),
                                                dataclasses.replace(board.submissions[0], name="a/b")))


def test_board_from_todays_run_records():
    def record(task, method, seed, pgr, flag=None):
        run = fake_record(task=task, weak="tfidf", strong="minilm-l6", method=method, seed=seed, weak_acc=0.6,
                          ceiling_acc=0.8, w2s_acc=0.6 + 0.2 * (pgr or 0), pgr=pgr, pgr_flag=flag,
                          pgr_ci=None if pgr is None else [pgr - 0.1, pgr + 0.1], gain_sq=0.03, misfit_sq=0.04)
        run.config.strong_model = {"name": "minilm-l6", "weights": "abcd"}
        run.provenance.created = f"2025-01-0{seed + 1}T00:00:00+00:00"
        run.provenance.hardware.cpu, run.provenance.hardware.cpu_count = "x86", 2
        run.provenance.versions = {"w2s-bench": "0.1.0"}
        run.provenance.git.commit, run.provenance.git.dirty = "0123456789abcdef", False
        return run

    records = [record("sst2", "naive", 0, 0.5), record("sst2", "naive", 1, 0.3), record("chess", "naive", 0, None,
                                                                                         "gap_too_small"),
               record("sst2", "logconf", 0, 0.2)]
    board = board_from_results(records)
    assert [s.name for s in board.submissions] == ["tfidf->minilm-l6:naive", "tfidf->minilm-l6:logconf"]
    naive = board.submissions[0]
    assert naive.strong == ModelInfo("minilm-l6", "abcd", pytest.approx(22.7e6))
    assert naive.when == "2025-01-01T00:00:00+00:00" and naive.hardware == "x86, 2 cores"
    assert "commit 0123456789ab" in naive.note
    sst2, chess = board.rows_of(naive.name)
    assert (sst2.family, sst2.seeds, sst2.pgr) == ("nlp", (0, 1), pytest.approx(0.4))
    assert (chess.family, chess.pgr, chess.pgr_flag) == ("chess", None, "gap_too_small")
    overall = board.ranking[0]
    assert (overall.rank, overall.status, overall.mean_pgr) == (None, UNRANKED, pytest.approx(0.4))
    assert overall.family_means == {"chess": None, "nlp": pytest.approx(0.4)}


# ------------------------------------------------------------------------------------------
# Figures (plotly.js specifications)
# ------------------------------------------------------------------------------------------


def test_pgr_against_size_has_one_line_per_weak_model_and_method_on_a_log_axis():
    fig = pgr_vs_size(seeded_board())
    axis = fig["layout"]["xaxis"]
    assert axis["type"] == "log" and axis["range"][0] < 7.356 < 8.04 < axis["range"][1]  # log10 of 22.7M and 110M
    assert dict(zip(axis["ticktext"], axis["tickvals"], strict=True))["20M"] == 2e7
    lines = {trace["name"]: (trace["mode"], trace["x"], trace["y"]) for trace in fig["data"]}
    assert lines == {"weak minilm-l1 · naive": ("lines+markers", [109.5e6], [0.11]),
                     "weak tfidf · logconf(alpha_max=0.5)": ("lines+markers", [109.5e6], [0.62]),
                     "weak tfidf · naive": ("lines+markers", [22.7e6], [0.31]),
                     "weak tfidf · naive (unranked)": ("markers", [22.7e6], [0.61])}
    bravo = next(t for t in fig["data"] if "logconf" in t["name"])
    assert bravo["error_y"]["array"] == [pytest.approx(0.12)] and bravo["error_y"]["arrayminus"] == [pytest.approx(0.14)]


def test_undefined_pgr_draws_no_bar_and_texts_are_escaped_for_plotly():
    board = seeded_board()
    labels, *bars = methods_side_by_side(board)["data"]
    assert len(labels["text"]) == len(board.rows) and [t for t in labels["text"] if t] == ["  n/a"]
    naive = next(trace for trace in bars if trace["name"] == "naive")
    (charlie_chess,) = [i for i, text in enumerate(naive["text"]) if text.startswith("charlie, ") and naive["y"][0][i] == "chess"]
    assert naive["x"][charlie_chess] is None
    assert "n/a (the gap between ceiling and weak model is not significant" in naive["text"][charlie_chess]
    everything = json.dumps(figures(board))
    assert "<script>" not in everything and "&lt;script&gt;alert(1)&lt;/script&gt;" in everything
    accuracy = accuracy_per_task(board)
    assert len(accuracy["data"][1]["y"]) == len(board.rows)
    misfit = misfit_vs_gain(board)
    assert misfit["data"][-1]["name"] == "gain = misfit" and misfit["data"][-1]["x"] == misfit["data"][-1]["y"]
    assert sum(len(t["x"]) for t in misfit["data"][:-1]) == len(board.rows)


# ------------------------------------------------------------------------------------------
# The files a build writes
# ------------------------------------------------------------------------------------------


def test_build_writes_the_pages_the_board_and_one_copy_of_plotly(tmp_path):
    board = seeded_board()
    index = build_site(board, tmp_path / "site")
    site = index.parent
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert read_board(site / "board.json") == board
    pages = sorted(p.name for p in (site / "submissions").iterdir())
    assert pages == sorted(f"{page_stem(s.name)}.html" for s in board.submissions)
    text = index.read_text()
    assert "<script>alert" not in text and "<img" not in text and "<b>mallory" not in text
    assert "evil&lt;script&gt;alert(1)&lt;/script&gt;" in text
    evil_page = (site / "submissions" / "evil-script-alert-1-script-.html").read_text()
    assert "<script>alert" not in evil_page and "&lt;img src=x onerror=" in evil_page
    assert text.isascii() and evil_page.isascii()


def test_rebuilding_drops_pages_of_removed_submissions_and_refuses_a_foreign_folder(tmp_path):
    board = seeded_board()
    site = build_site(board, tmp_path / "site").parent
    smaller = dataclasses.replace(board, submissions=board.submissions[:3], rows=board.rows[:12], ranking=board.ranking[:3])
    build_site(smaller, site)
    assert sorted(p.stem for p in (site / "submissions").iterdir()) == ["alpha", "bravo", "charlie"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(W2SError, match="holds no leaderboard site"):
        build_site(board, tmp_path / "other")


def test_a_board_without_rows_builds_with_nothing_to_draw(tmp_path):
    board = seeded_board()
    empty = dataclasses.replace(board, rows=(), ranking=tuple(dataclasses.replace(r, mean_pgr=None, mean_pgr_ci=None)
                                                             for r in board.ranking))
    assert all(not figure["data"] for figure in figures(empty).values())
    text = build_site(empty, tmp_path / "site").read_text()
    assert text.count("Nothing to draw for this board.") == 4 and 'data-figure="' not in text


def test_missing_plotly_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # `import plotly` then raises ImportError
    with pytest.raises(W2SError, match=r'pip install "w2s-bench\[leaderboard\]"'):
        build_site(seeded_board(), tmp_path / "site")


def test_cli_builds_from_a_board_and_from_results(tmp_path, capsys):
    (tmp_path / "board.json").write_text(seeded_board().to_json())
    assert main(["leaderboard", "build", "--board", str(tmp_path / "board.json"), "--output", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "a" / "index.html")
    record = fake_record(task="w2s_demo_sentiment", weak="tfidf", strong="minilm-l6", weak_acc=0.77, ceiling_acc=0.94,
                         w2s_acc=0.82, pgr=0.27, pgr_ci=[0.15, 0.38], gain_sq=0.02, misfit_sq=0.03)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(to_json([record])))
    assert main(["leaderboard", "build", "--results", str(tmp_path / "run"), "--output", str(tmp_path / "b")]) == 0
    board = read_board(tmp_path / "b" / "board.json")
    assert [(r.task, r.family, r.pgr) for r in board.rows] == [("w2s_demo_sentiment", "demo", 0.27)]
    (tmp_path / "bad.json").write_text("{")
    assert main(["leaderboard", "build", "--board", str(tmp_path / "bad.json"), "--output", str(tmp_path / "c")]) == 2


def test_templates_and_assets_are_packaged():
    """A non-editable install ships the templates and static files only if pyproject lists their folders
    as packages and its package-data covers every file in them."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    for folder in ("templates", "static"):
        package = f"w2s_bench.leaderboard.{folder}"
        assert package in setuptools["packages"], f"add {package} to [tool.setuptools] packages"
        patterns = setuptools["package-data"].get(package, [])
        files = [p.name for p in (root / "w2s_bench" / "leaderboard" / folder).iterdir()]
        unshipped = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]
        assert files and not unshipped, f"{unshipped} are not in package-data {package} = {patterns}"


# ------------------------------------------------------------------------------------------
# In a real browser
# ------------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
# without the background-networking flags chromium tries to reach Google's services, which a closed network refuses
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1800")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            pytest.skip(f"{path} not found: apt-get install {package}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium then skips Selenium Manager, which would try to download a driver
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_site(seeded_board(), tmp_path_factory.mktemp("leaderboard") / "site").parent


@pytest.fixture
def page(browser, site):
    """The index page, freshly loaded, with its figures drawn; after the test, the browser log has no errors."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(site.joinpath("index.html").as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('div[data-figure]')).every(d => d.querySelector('.main-svg'))"))
    yield browser
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"JavaScript errors in the page: {errors}"


def _rows(driver, table_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")


def _column(driver, table_id: str, header: str) -> list[str]:
    from selenium.webdriver.common.by import By

    headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")]
    index = headers.index(header)
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in _rows(driver, table_id)]


def _shown_submissions(driver, table_id: str) -> list[str]:
    """The submission names of the rows the filters leave visible."""
    from selenium.webdriver.common.by import By

    return [row.find_element(By.TAG_NAME, "a").text for row in _rows(driver, table_id) if row.is_displayed()]


def _click_header(driver, table_id: str, header: str) -> str:
    from selenium.webdriver.common.by import By

    th = next(th for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th") if th.text.strip() == header)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", th)  # not under the sticky filter bar
    th.click()
    return th.get_attribute("aria-sort")


def test_page_loads_from_file_with_the_seeded_rows(page, site, tmp_path_factory):
    board = seeded_board()
    assert page.current_url.startswith("file://")
    assert page.title == board.title
    assert _column(page, "overall-table", "submission") == [r.submission for r in board.ranking]
    assert _column(page, "overall-table", "rank") == ["1", "2", "3", "unranked (partial)"]
    assert _column(page, "overall-table", "mean PGR [95% CI]")[:2] == ["0.620 [0.48, 0.74]", "0.310 [0.12, 0.49]"]
    assert len(_rows(page, "task-table-chess")) == 3 + 1
    na = [cell for cell in _column(page, "task-table-chess", "PGR [95% CI]") if cell == "n/a"]
    assert len(na) == 1
    from selenium.webdriver.common.by import By

    tooltip = page.find_element(By.CSS_SELECTOR, "#task-table-chess span.na").get_attribute("title")
    assert tooltip.startswith("gap_not_significant: ")
    shot = tmp_path_factory.mktemp("screenshot") / "leaderboard.png"
    page.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_clicking_a_header_sorts_numbers_both_ways_with_na_last(page):
    board = seeded_board()
    before = _column(page, "overall-table", "submission")
    by_mean = sorted(board.ranking, key=lambda r: r.mean_pgr)
    assert _click_header(page, "overall-table", "mean PGR [95% CI]") == "ascending"
    assert _column(page, "overall-table", "submission") == [r.submission for r in by_mean] != before
    assert _click_header(page, "overall-table", "mean PGR [95% CI]") == "descending"
    assert _column(page, "overall-table", "submission") == [r.submission for r in reversed(by_mean)]
    # the chess task: charlie's PGR is n/a and stays last in both directions
    chess = sorted((r for r in board.rows if r.task == "chess" and r.pgr is not None), key=lambda r: r.pgr)
    _click_header(page, "task-table-chess", "PGR [95% CI]")
    assert _column(page, "task-table-chess", "submission") == [r.submission for r in chess] + ["charlie"]
    _click_header(page, "task-table-chess", "PGR [95% CI]")
    assert _column(page, "task-table-chess", "submission") == [r.submission for r in reversed(chess)] + ["charlie"]
    # a text column sorts alphabetically; rank's n/a (the unranked row) sorts last
    _click_header(page, "overall-table", "submission")
    assert _column(page, "overall-table", "submission") == sorted(before, key=str.lower)
    _click_header(page, "overall-table", "rank")
    _click_header(page, "overall-table", "rank")
    assert _column(page, "overall-table", "rank") == ["3", "2", "1", "unranked (partial)"]


def test_filters_hide_rows_and_sections(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page.find_element(By.ID, "filter").send_keys("mpnet")
    assert _shown_submissions(page, "overall-table") == ["bravo", "charlie"]
    assert "rows shown" in page.find_element(By.ID, "shown").text
    page.find_element(By.ID, "filter").clear()
    page.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    assert all(row.is_displayed() for row in _rows(page, "overall-table"))

    Select(page.find_element(By.ID, "family-filter")).select_by_value("chess")
    sections = {s.get_attribute("data-family"): s.is_displayed()
                for s in page.find_elements(By.CSS_SELECTOR, "#families section.group")}
    assert sections == {"chess": True, "nlp": False, "safety": False}
    assert not page.find_element(By.ID, "task-sst2").is_displayed()
    assert all(row.is_displayed() for row in _rows(page, "task-table-chess"))

    Select(page.find_element(By.ID, "method-filter")).select_by_value("logconf(alpha_max=0.5)")
    assert _shown_submissions(page, "task-table-chess") == ["bravo"]
    assert _shown_submissions(page, "overall-table") == ["bravo"]


def test_a_row_links_to_its_submission_page(page):
    from selenium.webdriver.common.by import By

    page.find_element(By.CSS_SELECTOR, "#overall-table a[href='submissions/alpha.html']").click()
    assert page.current_url.endswith("/submissions/alpha.html")
    assert page.find_element(By.TAG_NAME, "h1").text == "alpha"
    meta = page.find_element(By.CSS_SELECTOR, "dl.meta").text
    assert "Lab A" in meta and "0a1b2c3d" in meta and "22.7M parameters" in meta and "rank 2" in meta
    assert len(_rows(page, "submission-tasks")) == 4
    page.find_element(By.LINK_TEXT, "← all submissions").click()
    assert page.current_url.endswith("/index.html")


def test_every_figure_renders_its_traces(page):
    from selenium.webdriver.common.by import By

    specs = figures(seeded_board())
    for key, spec in specs.items():
        div = page.find_element(By.ID, f"plot-{key}")
        assert div.find_elements(By.CSS_SELECTOR, ".main-svg"), key
        assert page.execute_script("return arguments[0].data.length", div) == len(spec["data"])
        assert div.find_elements(By.CSS_SELECTOR, "g.trace"), f"{key}: no trace drawn"
        points = div.find_elements(By.CSS_SELECTOR, "g.trace path.point, g.trace .point path")
        assert points, f"{key}: no point or bar drawn"


def test_hostile_text_shows_as_text_and_runs_nothing(page, site):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text  # noqa: B018 (reading it is the check)
    scripts = page.find_elements(By.TAG_NAME, "script")
    assert sorted((s.get_attribute("type") or "", Path(s.get_attribute("src") or "").name) for s in scripts) == [
        ("", "leaderboard.js"), ("", "plotly.min.js"), ("application/json", "")]
    assert f"evil{EVIL}" in _column(page, "overall-table", "submission")
    assert not page.find_elements(By.CSS_SELECTOR, "main img, main b")
    page.get(site.joinpath("submissions", "evil-script-alert-1-script-.html").as_uri())
    assert page.find_element(By.TAG_NAME, "h1").text == f"evil{EVIL}"
    assert page.find_element(By.CSS_SELECTOR, "p.note").text.startswith(f'{EVIL} & <img src=x onerror="alert(2)">')
    assert [Path(s.get_attribute("src")).name for s in page.find_elements(By.TAG_NAME, "script")] == ["leaderboard.js"]
    assert not page.find_elements(By.CSS_SELECTOR, "main img, main b")
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text  # noqa: B018


def test_the_content_security_policy_blocks_an_inline_script(browser, site):
    """Defence in depth: had a text escaped its cell as a script, the page's policy would not run it."""
    html = site.joinpath("index.html").read_text().replace("<main>", "<main><script>document.title = 'ran'</script>", 1)
    tampered = site / "tampered.html"  # beside index.html, so assets/ resolves the same
    tampered.write_text(html)
    try:
        browser.get(tampered.as_uri())
        assert browser.title != "ran"
        violations = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        assert violations, "the inline script was not reported as blocked"
    finally:
        tampered.unlink()


SUBMISSIONS = Path(__file__).resolve().parent.parent / "leaderboard" / "submissions"


def test_the_seeded_submissions_render_ranked_from_file(browser, tmp_path_factory):
    """The committed submissions (real runs of the harness) built by `leaderboard build` with its defaults
    and loaded in the browser: every submission and every (submission, task) row is on the page, the
    ranked ones with a mean PGR and its CI, and the figures draw."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from w2s_bench.leaderboard.ranking import build_board, read_submissions

    board = build_board(read_submissions(SUBMISSIONS))
    out = tmp_path_factory.mktemp("seeded") / "site"
    assert main(["leaderboard", "build", "--output", str(out), "--submissions", str(SUBMISSIONS)]) == 0
    browser.get(out.joinpath("index.html").as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('div[data-figure]')).every(d => d.querySelector('.main-svg'))"))
    assert sorted(_column(browser, "overall-table", "submission")) == sorted(s.name for s in board.submissions)
    ranks = _column(browser, "overall-table", "rank")
    ranked = [row for row in board.ranking if row.rank is not None]
    assert ranks[: len(ranked)] == [str(i) for i in range(1, len(ranked) + 1)]
    means = _column(browser, "overall-table", "mean PGR [95% CI]")
    for shown, row in zip(means, board.ranking, strict=True):
        if row.rank is not None:
            assert shown == f"{row.mean_pgr:.3f} [{row.mean_pgr_ci[0]:.2f}, {row.mean_pgr_ci[1]:.2f}]"
    for task in {row.task for row in board.rows}:
        shown = _column(browser, f"task-table-{task}", "submission")
        assert sorted(shown) == sorted(r.submission for r in board.rows if r.task == task), task
    for figure in browser.find_elements(By.CSS_SELECTOR, "div[data-figure]"):
        assert figure.find_elements(By.CSS_SELECTOR, ".main-svg .trace, .main-svg .point, .main-svg path"), \
            figure.get_attribute("data-figure")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    shot = Path(os.environ.get("W2S_BENCH_SCREENSHOT") or tmp_path_factory.mktemp("shot") / "seeded.png")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
