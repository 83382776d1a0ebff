"""Task templates are rendered in Jinja's sandbox: a hostile task file cannot run code.

Each payload would create a marker file if it ran (under a plain ``jinja2.Environment`` the first ones
do). Every template field is tried, through ``w2s-bench validate`` and through a run; each must end
in a clear error naming the file and the field, and the marker must never appear. That every shipped
task still renders exactly as before is checked in test_task_library.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from w2s_bench.cli import main
from w2s_bench.errors import W2SError
from w2s_bench.tasks.templates import MAX_TEXT_CHARS, Template

FIELDS = ("doc_to_text", "doc_to_target", "doc_to_choice", "doc_to_id", "doc_filter")

# {marker} is replaced by the marker file's path; each expression runs `touch` if the sandbox lets it
PAYLOADS = {
    "cycler globals": "cycler.__init__.__globals__.os.system('touch {marker}')",
    "joiner globals": "joiner.__init__.__globals__.os.system('touch {marker}')",
    "namespace globals": "namespace.__init__.__globals__.os.system('touch {marker}')",
    "lipsum globals": "lipsum.__globals__.os.system('touch {marker}')",
    "range builtins": "range.__globals__.__builtins__.__import__('os').system('touch {marker}')",
    "template reference": "self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch {marker}')",
    "str mro subclasses": "''.__class__.__mro__[1].__subclasses__()[0].__init__.__globals__.os.system('touch {marker}')",
    "attr filter": "(cycler|attr('__init__')|attr('__globals__')).os.system('touch {marker}')",
    "attr filter, built names": "(cycler|attr('_' ~ '_init__')|attr('_' ~ '_globals__')).os.system('touch {marker}')",
    "getitem": "cycler['__init__']['__globals__']['os'].system('touch {marker}')",
    "getitem, built names": "cycler['_' ~ '_init__']['_' ~ '_globals__']['os'].system('touch {marker}')",
    "format string": "'{{0.__init__.__globals__[os].system}}'.format(cycler)",
    "map attribute": "[cycler]|map(attribute='__init__')|list",
    "mutation": "[1].append(2) or text",
}


def _task_yaml(field: str, expression: str) -> str:
    """The keyword task (tests/fakes.py) with one template field replaced by ``{{ expression }}``."""
    fields = {"doc_to_text": "'{{ text }}'", "doc_to_target": "'{{ label }}'", "doc_to_choice": "'{{ [\"bad\", \"good\"] }}'"}
    fields[field] = '"{{ ' + expression.replace('"', '\\"') + ' }}"'
    extra = "" if field in ("doc_to_text", "doc_to_target", "doc_to_choice") else f"{field}: {fields.pop(field)}\n"
    return ("task: hostile\ndataset_path: local/keywords\ntraining_split: train\ntest_split: test\n"
            "output_type: multiple_choice\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + extra +
            "metadata: {version: 1}\n")


@pytest.fixture
def hostile(tmp_path, small_mirror):
    """write(field, payload) -> (yaml path, marker path), with the data's folder as .data_dir."""
    folder = tmp_path / "hostile"
    folder.mkdir()

    def write(field: str, payload: str) -> tuple[Path, Path]:
        marker = tmp_path / f"PWNED-{field}"
        path = folder / "hostile.yaml"
        path.write_text(_task_yaml(field, payload.format(marker=marker)))
        return path, marker

    write.data_dir = small_mirror
    return write


def _assert_refused(code: int, err: str, path: Path, field: str, marker: Path) -> None:
    assert not marker.exists(), "the payload ran"
    assert code == 2, err
    assert "Traceback" not in err
    assert f"{path}: {field}" in " ".join(err.split()), err  # rich may wrap long lines


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", FIELDS)
def test_hostile_template_is_refused_by_validate(hostile, capsys, field, payload):
    path, marker = hostile(field, payload)
    code = main(["validate", str(path), "--data_dir", str(hostile.data_dir)])
    _assert_refused(code, capsys.readouterr().err, path, field, marker)


@pytest.mark.parametrize("field", FIELDS)
def test_hostile_template_is_refused_by_a_run_before_training(hostile, capsys, field):
    path, marker = hostile(field, PAYLOADS["cycler globals"])
    code = main(["--tasks", "hostile", "--include_path", str(path.parent), "--data_dir", str(hostile.data_dir),
                 "--weak", "tfidf", "--strong", "tfidf", "--limit", "40", "--no_cache", "--quiet"])
    _assert_refused(code, capsys.readouterr().err, path, field, marker)


def test_spelled_out_attribute_tricks_are_refused_without_data(hostile, capsys):
    """`validate --schema_only` reads no data, yet catches a trick written in the template itself."""
    path, marker = hostile("doc_filter", PAYLOADS["cycler globals"])
    code = main(["validate", str(path), "--schema_only"])
    _assert_refused(code, capsys.readouterr().err, path, "doc_filter", marker)


@pytest.mark.parametrize("source", [
    "{{ 'a' * 10**10 }}", "{{ 10**10 * [1] }}", "{{ (2 ** (10**7)) > 1 }}", "{{ range(10**10) | list }}",
    "{{ '%099999999d' | format(1) }}",  # made (100 MB, see the README), but refused as a value
    "x{% for i in range(100000) %}{% for j in range(100000) %}{{ text }}{% endfor %}{% endfor %}",
    "x{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",  # no output, endless
    "x{% for i in [0] * 5000000 %}{% for j in [0] * 5000000 %}{% endfor %}{% endfor %}",
])
def test_templates_cannot_build_huge_values_or_loop_endlessly(source):
    with pytest.raises(W2SError, match="my.yaml: doc_to_text: refused by the template sandbox"):
        Template(source, "my.yaml: doc_to_text")({"text": "0123456789"})


def test_the_item_budget_is_per_row():
    template = Template("{% for i in range(100000) %}{% endfor %}{{ text }}", "f")
    assert [template({"text": str(n)}) for n in range(150)] == [str(n) for n in range(150)]  # 15M items in all


def test_what_templates_may_do_still_works():
    row = {"text": "Hello", "_id": 7, "choices": {"text": ["a", "b"]}, "n": 3}
    cases = {
        "{{ text }}": "Hello", "{{ _id }}": 7, "{{ choices.text }}": ["a", "b"], "{{ choices['text'][1] }}": "b",
        "{{ '%s-%d' | format(text, n) }}": "Hello-3", "{{ '{}!'.format(text) }}": "Hello!",
        "{{ text ~ '_' ~ n }}": "Hello_3", "{{ 'ab' * n }}": "ababab", "{{ 2 ** 62 }}": 2 ** 62,
        "{{ range(n) | list }}": [0, 1, 2], "{{ (choices.text + ['c']) | join(',') }}": "a,b,c",
        "{{ text | replace('l', '_') }}": "He__o", "{{ n | int + 1 }}": 4,
        "{% for c in choices.text %}{{ loop.index }}{{ c }}{% endfor %}": "1a2b",
    }
    for source, expected in cases.items():
        assert Template(source, "f.yaml: doc_to_text")(row) == expected, source


def test_a_long_row_renders():
    long_text = "x" * (MAX_TEXT_CHARS // 2)
    assert Template("{{ text }}", "f")({"text": long_text}) == long_text
    assert Template("a: {{ text }}", "f")({"text": long_text}) == "a: " + long_text
