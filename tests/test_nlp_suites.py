"""The EleutherAI/w2s and Burns et al. NLP suites: the task names, the hub's label conventions on
known rows of the local mirrors, the de-duplication of texts a source repeats across splits, the
hub-only tasks on fixture rows laid out like a mirror, and the two suite groups.

Every shipped task with a mirror is also loaded, checked for all classes, non-empty texts and
disjoint training and test texts by tests/test_task_library.py. The hub is never contacted here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from w2s_bench.cli import main
from w2s_bench.evaluator import RunConfig, plan_sweep
from w2s_bench.tasks import Task, TaskRegistry
from w2s_bench.tasks.data import local_split_sizes

WITH_MIRROR = ["cola", "mrpc", "rte", "qnli", "wic", "copa", "copa_mc", "multirc", "piqa", "piqa_mc",
               "social_i_qa", "social_i_qa_mc", "openbookqa", "openbookqa_mc", "mc_taco", "dream", "dream_mc",
               "quail", "quail_mc", "sciq_with_support", "tweet_sentiment", "tweet_hate", "tweet_offensive",
               "tweet_irony"]
HUB_ONLY = ["anli_r2", "paws", "quartz", "hellaswag"]
TRAINING_PARTS = ("train_a", "val_a", "train_b", "val_b")


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry.discover()


def test_the_suites_task_names_exist_and_the_library_has_25_nlp_tasks(registry):
    missing = [n for n in WITH_MIRROR + HUB_ONLY if n not in registry.tasks]
    assert not missing, f"tasks named by the suites are missing: {missing}"
    nlp = [n for n in registry.names() if registry.get(n).config.family == "nlp"]
    assert len(nlp) >= 25, nlp


def _mirror_row(shared_data: Path, config, split: str, index: int) -> dict:
    path = shared_data / config.dataset_path / (config.dataset_name or "") / f"{split}.jsonl"
    with path.open() as lines:
        for i, line in enumerate(lines):
            if i == index:
                return json.loads(line)
    raise IndexError(f"{path} has no row {index}")


# ---------------------------------------------------------------- label conventions, classification

# (task, split, row, the class the hub's label means, the rendered text): rows read from the mirror
CLASSIFICATION_ROWS = [
    ("cola", "train", 0, "acceptable", "Our friends won't buy this analysis, let alone the next one we propose."),
    ("rte", "train", 0, "not_entailment", "Hypothesis: Weapons of Mass Destruction Found in Iraq.\n"
     "Premise: No Weapons of Mass Destruction Found in Iraq Yet.\nDoes the premise entail the hypothesis?"),
    ("rte", "train", 1, "entailment", "Hypothesis: Pope Benedict XVI is the new leader of the Roman Catholic Church."),
    ("qnli", "validation", 0, "entailment", "Question: What came into force after the new constitution was herald?\n"
     "Sentence: As of that day, the new constitution heralding the Second Republic came into force.\n"
     "Does the sentence answer the question?"),
    ("qnli", "validation", 1, "not_entailment", "Question: What is the first major city in the stream of the Rhine?"),
    ("mrpc", "train", 0, "equivalent", "Sentence 1: Amrozi accused his brother , whom he called \" the witness \" ,"),
    ("wic", "train", 0, "false", "Sentence 1: Do you want to come over to my place later?\n"
     "Sentence 2: A political system with no place for the less prominent groups.\n"
     "Is the word \"place\" used with the same meaning in both sentences?"),
    ("multirc", "validation", 0, "false", "Question: Would the mass of a baseball affect how much force you have "
     "to use to pick it up?\nCandidate answer: No\nParagraph: What causes a change in motion?"),
    ("mc_taco", "test", 0, "no", "Durer's father died in 1502, and his mother died in 1513.\n"
     "Question: How long was his mother ill?\nCandidate answer: she was ill for 30 seconds\nIs this answer plausible?"),
    ("mc_taco", "test", 3, "yes", "Durer's father died in 1502, and his mother died in 1513.\n"
     "Question: How long was his mother ill?\nCandidate answer: 6 months\n"),
    ("tweet_sentiment", "test", 3, "positive", "I think I may be finally in with the in crowd #mannequinchallenge"),
    ("tweet_sentiment", "test", 4, "negative", "@user Wow,first Hugo Chavez and now Fidel Castro."),
    ("tweet_sentiment", "test", 0, "neutral", "@user @user what do these '1/2 naked pics' have to do with anything?"),
    ("tweet_hate", "test", 1, "hate", "Whoever just unfollowed me you a bitch"),
    ("tweet_hate", "test", 0, "non-hate", "@user , you are correct that Reid certainly is a weasel."),
    ("tweet_offensive", "test", 0, "offensive", "#ibelieveblaseyford is liar she is fat ugly libreal #snowflake"),
    ("tweet_irony", "test", 1, "irony", 'Just walked in to #Starbucks and asked for a "tall blonde" Hahahaha #irony'),
    ("tweet_irony", "test", 0, "non_irony", "@user Can U Help?||More conservatives needed on #TSU"),
]


@pytest.mark.parametrize("name,split,index,class_name,text", CLASSIFICATION_ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in CLASSIFICATION_ROWS])
def test_a_known_row_renders_with_the_hubs_label(registry, shared_data, name, split, index, class_name, text):
    task = registry.get(name)
    example = task.builder.build(_mirror_row(shared_data, task.config, split, index), "known")
    assert task.config.doc_to_choice[example.label] == class_name
    assert example.texts[0].startswith(text), example.texts[0][:300]


def test_entailment_is_class_0_as_on_the_hub(registry):
    for name in ("rte", "qnli", "anli_r2"):
        assert registry.get(name).config.doc_to_choice[0] == "entailment", name


# ---------------------------------------------------------------- label conventions, multiple choice

# (task, split, row, the right answer by the hub's label, the text of the example showing an answer)
CHOICE_ROWS = [
    ("copa", "train", 2, "They wanted to catch up with each other.",  # label 1 = choice2
     "The women met for coffee. What was the cause of this? {answer}"),
    ("copa", "train", 0, "The sun was rising.",  # label 0 = choice1
     "My body cast a shadow over the grass. What was the cause of this? {answer}"),
    ("piqa", "validation", 1, "finish, woodgrain with  bobby pin ", "Goal: dresser\nSolution: {answer}"),  # label 1 = sol2
    ("social_i_qa", "validation", 0, "Find somewhere to go",  # label "3" = answerC
     "Context: Tracy didn't go home that evening and resisted Riley's attacks.\n"
     "Question: What does Tracy need to do before this?\nAnswer: {answer}"),
    ("social_i_qa", "validation", 1, "sympathetic",  # label "1" = answerA
     "Context: Sydney walked past a homeless woman asking for change but did not have any money they could give "
     "to her. Sydney felt bad afterwards.\nQuestion: How would you describe Sydney?\nAnswer: {answer}"),
    ("openbookqa", "test", 0, "quit eating lunch out",  # answerKey B
     "Q: A person wants to start saving money so that they can afford a nice vacation at the end of the year. "
     "After looking over their budget and expenses, they decide the best way to save money is to A: {answer}"),
    ("dream", "test", 0, "The movie will not be shown.",  # the answer is the text of the right choice
     "Question: What can we conclude about the movie?\nAnswer: {answer}\nDialogue:\n"
     "W: The movie next Tuesday has been cancelled due to lack of interest.\nM: What do you mean?\n"
     "W: Well, by last night only a few tickets has been sold."),
    ("quail", "challenge", 0, "That she is a little nuts.",  # correct_answer_id 0
     "Question: What does that narrator think of Cathy?\nAnswer: {answer}\n"
     "Text: The biggest thorn in the paw of my grand plan to stop going to school was that my mom"),
    ("sciq_with_support", "validation", 0, "darwin",  # correct_answer; this row's support is empty
     "Q: Who proposed the theory of evolution by natural selection? A: {answer}\nSupport: "),
]


def _binary_examples(task: Task, row: dict) -> dict[int, object]:
    """One example per label: the binary builder shows the right or a wrong answer by example id."""
    found = {}
    for i in range(64):
        example = task.builder.build(row, f"id-{i}")
        found.setdefault(example.label, example)
        if len(found) == 2:
            return found
    raise AssertionError("64 example ids never gave both labels")


@pytest.mark.parametrize("name,split,index,answer,text", CHOICE_ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in CHOICE_ROWS])
def test_a_known_multiple_choice_row_marks_the_hubs_answer(registry, shared_data, name, split, index, answer, text):
    task = registry.get(name)
    row = _mirror_row(shared_data, task.config, split, index)
    shown = _binary_examples(task, row)
    right = text.format(answer=answer)
    assert shown[1].texts[0].startswith(right), shown[1].texts[0][:300]
    assert not shown[0].texts[0].startswith(right)
    assert shown[0].texts[0].startswith(text[:text.index("{answer}")])  # a wrong answer in the same frame

    variant = f"{name}_mc"
    if variant in registry.tasks:  # the multiple-choice variant: the candidate at the label ends with the answer
        mc = registry.get(variant)
        example = mc.builder.build(_mirror_row(shared_data, mc.config, split, index), "known")
        assert example.texts[example.label].endswith(answer)
        assert sum(candidate.endswith(answer) for candidate in example.texts) == 1


# ---------------------------------------------------------------- texts a source repeats across splits


def _texts(shared_data: Path, folder: str, split: str, column: str) -> list[str]:
    with (shared_data / folder / f"{split}.jsonl").open() as lines:
        return [json.loads(line)[column] for line in lines]


def _training_texts(loaded) -> list[str]:
    return [ex.texts[0] for part in TRAINING_PARTS for ex in getattr(loaded.splits, part)]


@pytest.mark.parametrize("name,folder,train_split,test_split,column,shared", [
    ("cola", "nyu-mll/glue/cola", "train", "validation", "sentence", 16),
    ("tweet_hate", "cardiffnlp/tweet_eval/hate", "train", "test", "text", 232),
])
def test_training_drops_the_texts_a_source_repeats_from_its_test_split(registry, shared_data, name, folder,
                                                                       train_split, test_split, column, shared):
    train = _texts(shared_data, folder, train_split, column)
    test = set(_texts(shared_data, folder, test_split, column))
    in_both = set(train) & test
    assert len(in_both) == shared  # the counts the MANIFEST states
    expected_drops = len(train) - len(set(train) - test)  # rows in the test split, and repeats within train

    task = registry.get(name)
    whole = Task(replace(task.config, split=replace(task.config.split, balance_labels=False)))
    loaded = whole.load(seed=0, data_dir=shared_data)  # every training row, so every repeat is met
    training = _training_texts(loaded)
    assert len(training) == len(train) - expected_drops
    assert any(f"dropped {expected_drops} training examples" in note for note in loaded.splits.notes)
    assert not in_both & set(training)

    shipped = task.load(seed=0, data_dir=shared_data)  # as shipped: CoLA's balanced test part is a subset
    assert not {ex.texts[0] for ex in shipped.splits.test} & set(_training_texts(shipped))


# ---------------------------------------------------------------- hub-only tasks, on fixture rows

def _write_split(root: Path, folder: str, split: str, rows: list[dict]) -> None:
    path = root / folder / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _anli_rows(prefix: str, n: int) -> list[dict]:
    # facebook/anli (plain_text): uid, premise, hypothesis, label (0 entailment, 1 neutral, 2 contradiction), reason
    return [{"uid": f"{prefix}{i}", "premise": f"{prefix} premise number {i} about a river.",
             "hypothesis": f"{prefix} hypothesis {i}.", "label": i % 3, "reason": ""} for i in range(n)]


def _paws_rows(prefix: str, n: int) -> list[dict]:
    # google-research-datasets/paws (labeled_final): id, sentence1, sentence2, label (1 = paraphrase)
    return [{"id": i + 1, "sentence1": f"{prefix} flights from city {i} to city {i + 1}.",
             "sentence2": f"{prefix} flights from city {i + 1} to city {i}.", "label": i % 2} for i in range(n)]


def _quartz_rows(prefix: str, n: int) -> list[dict]:
    # allenai/quartz: id, question, choices {text, label}, answerKey, para, para_id, para_anno, question_anno
    return [{"id": f"QRQA-{prefix}-{i}", "question": f"{prefix} question {i}: a lower SPF protects the skin",
             "choices": {"text": ["longer", "shorter"], "label": ["A", "B"]}, "answerKey": "AB"[i % 2],
             "para": f"{prefix} fact {i}: a sunscreen with a higher SPF protects the skin longer.",
             "para_id": f"QRSent-{i}",
             "para_anno": {"effect_prop": "protection", "cause_prop": "SPF", "effect_dir_str": "longer",
                           "cause_dir_str": "higher", "effect_dir_sign": "MORE", "cause_dir_sign": "MORE"},
             "question_anno": {"more_effect_dir": "longer", "less_effect_dir": "shorter", "less_cause_prop": "spf",
                               "more_effect_prop": "protection", "less_cause_dir": "lower",
                               "less_effect_prop": "protection"}} for i in range(n)]


def _hellaswag_rows(prefix: str, n: int) -> list[dict]:
    # Rowan/hellaswag: ind, activity_label, ctx_a, ctx_b, ctx, endings, source_id, split, split_type, label (a string)
    return [{"ind": i, "activity_label": "Removing ice from car", "ctx_a": f"{prefix} a man scrapes car {i}.",
             "ctx_b": "then", "ctx": f"{prefix} a man scrapes car {i}. Then",
             "endings": [f"ending {k} of {i}" for k in range(4)], "source_id": f"activitynet~v_{i}",
             "split": "train", "split_type": "indomain", "label": str(i % 4)} for i in range(n)]


# (task, mirror folder, training split, test split, row maker, rendered text of row 1 of the test split,
#  its target class index): the hub's documented columns, laid out as <dataset_path>/<dataset_name>/<split>.jsonl
HUB_FIXTURES = [
    ("anli_r2", "facebook/anli", "train_r2", "test_r2", _anli_rows,
     "Premise: test premise number 1 about a river.\nHypothesis: test hypothesis 1.\n"
     "Does the premise entail the hypothesis?", 1),  # label 1 (neutral) is "not entailment"
    ("paws", "google-research-datasets/paws/labeled_final", "train", "test", _paws_rows,
     "Sentence 1: test flights from city 1 to city 2.\nSentence 2: test flights from city 2 to city 1.\n"
     "Do both sentences mean the same thing?", 1),
    ("quartz", "allenai/quartz", "train", "test", _quartz_rows,
     "test fact 1: a sunscreen with a higher SPF protects the skin longer.\n"
     "Question: test question 1: a lower SPF protects the skin\nAnswer: shorter", 1),  # answerKey B
    ("hellaswag", "Rowan/hellaswag", "train", "validation", _hellaswag_rows,
     "test a man scrapes car 1. Then ending 1 of 1", 1),  # label "1"
]


@pytest.mark.parametrize("name,folder,train_split,test_split,rows,text,target", HUB_FIXTURES,
                         ids=[f[0] for f in HUB_FIXTURES])
def test_a_hub_only_task_runs_on_rows_with_the_hubs_columns(registry, tmp_path, name, folder, train_split,
                                                            test_split, rows, text, target):
    _write_split(tmp_path, folder, train_split, rows("train", 60))
    _write_split(tmp_path, folder, test_split, rows("test", 24))
    task = registry.get(name)
    loaded = task.load(seed=0, data_dir=tmp_path)
    assert loaded.source.origin == f"local:{tmp_path / folder}"
    assert loaded.splits.test and loaded.splits.train_a and loaded.splits.train_b
    assert {ex.label for ex in loaded.splits.test} == {0, 1}

    row = rows("test", 2)[1]
    if task.config.binarize_choices:  # the example showing the right answer
        example = _binary_examples(task, row)[1]
        assert example.texts[0] == text
    else:
        example = task.builder.build(row, "known")
        assert example.texts[0] == text and example.label == target


def test_hub_only_tasks_have_no_local_data_and_ls_says_so(registry, shared_data, capsys):
    for name in HUB_ONLY:
        assert local_split_sizes(registry.get(name).config, shared_data) is None, name
    for name in WITH_MIRROR:
        assert local_split_sizes(registry.get(name).config, shared_data), name
    assert main(["ls", "tasks", "--data_dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    for name in HUB_ONLY:
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert "none here (hub only)" in line, line
    assert "tasks have no local data under" in out


# ---------------------------------------------------------------- the suite groups

ELEUTHER = {"anli_r2", "cola", "dream", "ethics_deontology", "ethics_justice", "ethics_virtue", "ethics_utilitarianism",
            "mc_taco", "hellaswag", "multirc", "openbookqa", "paws", "piqa", "quail", "quartz", "social_i_qa", "sst2",
            "wic", "sciq", "sciq_with_support", "hh_rlhf_harmless_pointwise", "cosmos_qa", "boolq", "amazon_polarity"}
BURNS = {"boolq", "cosmos_qa", "dream", "ethics_justice", "ethics_deontology", "ethics_virtue", "ethics_utilitarianism",
         "anli_r2", "cola", "sst2", "hellaswag", "mc_taco", "openbookqa", "paws", "quail", "piqa", "quartz", "sciq",
         "social_i_qa", "multirc", "wic"}


def test_the_suite_groups_hold_the_anchors_datasets_we_have(registry):
    assert set(registry.expand(["w2s_eleuther"])) == ELEUTHER  # 24 of EleutherAI/w2s's 25 (no twitter-sentiment)
    assert set(registry.expand(["w2s_burns"])) == BURNS  # 21 of Burns et al.'s 22 (no Twitter Sentiment)


@pytest.mark.slow  # loads the 20 members that have a mirror (~15 s on 2 idle cores)
def test_a_suite_group_plans_every_member_with_data_and_skips_the_rest(shared_data, monkeypatch, caplog):
    import datasets

    from w2s_bench.tasks import data

    def unreachable(*args, **kwargs):
        raise ConnectionError("the hub is unreachable in this test")

    monkeypatch.setattr(datasets, "get_dataset_split_names", unreachable)
    monkeypatch.setattr(data, "_hub_unreachable", [])  # what this test's fake outage teaches the loader stays here
    config = RunConfig(tasks=["w2s_eleuther"], weak=["tfidf"], strong=["tfidf"], limit=50,
                       data_dir=str(shared_data), cache_dir=None)
    with caplog.at_level(logging.WARNING, logger="w2s_bench"):
        plan = plan_sweep(config)
    assert {cell.task.name for cell in plan.cells} == ELEUTHER - set(HUB_ONLY)
    for name in HUB_ONLY:
        assert f"skipping {name}" in caplog.text
