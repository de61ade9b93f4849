"""Loaders and prompts: real rows of each public format, hand-written variants, and bad input."""
from __future__ import annotations

import json

import pytest

from finetune.eval import formats
from finetune.eval.formats import EvalDataError
from finetune.eval.tasks import TASKS, load_task, parse_tasks


def test_arc_real_rows_letter_and_digit_keys(shared_data):
    docs = formats.read_arc(shared_data / "arc" / "ARC-Easy-Test.jsonl")
    assert len(docs) == 2376
    first = docs[0]
    assert first.query == ("Question: Which statement best explains why photosynthesis is the foundation of most "
                           "food webs?\nAnswer:")
    assert first.choices[0] == "Sunlight is the source of energy for nearly all ecosystems." and first.gold == 0
    # Upstream keys "1"–"4" are valid: the gold is the key's position among the labels.
    digit = next(d for d, line in zip(docs, (shared_data / "arc" / "ARC-Easy-Test.jsonl").open())
                 if json.loads(line)["id"] == "NYSEDREGENTS_2015_8_28")
    assert digit.choices[digit.gold] == "elements"
    assert {len(d.choices) for d in docs} == {3, 4, 5}


def test_boolq_hellaswag_winogrande_real_rows(shared_data):
    boolq = formats.read_boolq(shared_data / "boolq" / "val.jsonl")
    assert len(boolq) == 3270 and boolq[0].gold == 0 and boolq[0].choices == ("no", "yes")
    assert boolq[0].query.startswith("Ethanol fuel -- All biomass")
    assert boolq[0].query.endswith("\nQuestion: does ethanol take more energy make that produces?\nAnswer:")
    hella = formats.read_hellaswag(shared_data / "hellaswag" / "val.jsonl")
    # lm-eval capitalises ctx_b: "... on a roof. he" becomes "... on a roof. He".
    assert hella[0].query == "Roof shingle removal: A man is sitting on a roof. He"
    assert hella[0].gold == 3 and len(hella) == 10042
    wino = formats.read_winogrande(shared_data / "winogrande" / "dev.jsonl")
    assert wino[0].choices == ("Sarah was a much better surgeon than Maria so Sarah",
                               "Sarah was a much better surgeon than Maria so Maria")
    assert wino[0].partial == "always got the easier cases." and wino[0].gold == 1


def test_mmlu_cmmlu_ceval_real_rows(shared_data):
    mmlu = formats.read_mmlu_csv(shared_data / "mmlu" / "dev" / "abstract_algebra_dev.csv")
    assert mmlu[0].query == ("Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:")
    assert mmlu[0].gold == 1 and mmlu[0].choices == ("A", "B", "C", "D")
    cmmlu = formats.read_cmmlu_csv(shared_data / "cmmlu" / "dev" / "agronomy.csv")
    assert cmmlu[0].query == "肉牛屠宰后，胴体的哪个部位肉质较好\nA. 胸\nB. 腹\nC. 大腿\nD. 小腿\n答案：" and cmmlu[0].gold == 2
    ceval = formats.read_ceval_csv(shared_data / "ceval" / "dev" / "accountant_dev.csv")
    assert ceval[0].gold == 1 and ceval[0].query.endswith("\nD. 弹性预算\n答案：")


def test_mmlu_five_shot_prompt_matches_lm_eval(shared_data):
    item = load_task("mmlu", shared_data, num_fewshot=5, limit=1)[0]
    context = item.contexts[0]
    assert context.startswith("The following are multiple choice questions (with answers) about abstract algebra.\n\n"
                              "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n")
    assert context.count("\nAnswer:") == 6 and context.endswith("\nAnswer:")
    assert item.continuations == (" A", " B", " C", " D")


def test_every_task_reads_the_mini_folder(mini_data):
    sizes = {name: len(load_task(name, mini_data, num_fewshot=1)) for name in TASKS}
    assert sizes == {"arc_easy": 3, "arc_challenge": 3, "boolq": 3, "hellaswag": 2, "winogrande": 2,
                     "mmlu": 3, "cmmlu": 1, "ceval": 1}
    arc = load_task("arc_easy", mini_data)
    assert [i.gold for i in arc] == [0, 1, 0]  # letter key, digit key, HF export layout
    hella = load_task("hellaswag", mini_data)
    assert hella[1].contexts[0] == "Washing a car: A man sprays a car with a hose. Then he"
    assert load_task("boolq", mini_data)[2].gold == 0  # `answer: false` (google/boolq layout)
    wino = load_task("winogrande", mini_data, num_fewshot=1)[0]
    assert wino.contexts[0].startswith("The trophy did not fit in the suitcase because the suitcase was too small.\n\n")
    assert wino.continuations == (" was too big.", " was too big.")


@pytest.mark.parametrize("relative, line, expected", [
    ("arc/ARC-Easy-Test.jsonl",
     '{"question":{"stem":"Q?","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"E"}',
     "row 4: answerKey 'E' is not one of the choice labels"),
    ("arc/ARC-Easy-Test.jsonl",
     '{"question":{"stem":"Q?","choices":[{"text":"a","label":"A"},{"text":" ","label":"B"}]},"answerKey":"A"}',
     "row 4: choice 2 is empty"),
    ("boolq/val.jsonl", '{"question": "q", "passage": "p", "label": "maybe"}', "row 4: label 'maybe' is not true/false"),
    ("hellaswag/val.jsonl", '{"ctx": "c", "endings": ["a", "b"], "label": 7}', "row 3: label 7 out of range 0..1"),
    ("winogrande/dev.jsonl", '{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}',
     "row 3: sentence has no '_' blank"),
    ("mmlu/test/astronomy_test.csv", "Question?,a,b,c,d,E", "row 2: answer 'E' is not one of A, B, C, D"),
    ("mmlu/test/astronomy_test.csv", "Question?,a,b,c", "row 2: expected 6 columns"),
    ("boolq/val.jsonl", "{not json", "row 4: not valid JSON"),
])
def test_bad_rows_name_file_and_row(mini_data, relative, line, expected):
    path = mini_data / relative
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    task = {"arc": "arc_easy", "boolq": "boolq", "hellaswag": "hellaswag", "winogrande": "winogrande",
            "mmlu": "mmlu"}[relative.split("/")[0]]
    with pytest.raises(EvalDataError) as err:
        load_task(task, mini_data)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_files_and_unknown_tasks(mini_data):
    (mini_data / "boolq" / "val.jsonl").unlink()
    with pytest.raises(EvalDataError, match="val.jsonl: file not found"):
        load_task("boolq", mini_data)
    with pytest.raises(EvalDataError, match="fewer than --num-fewshot 5"):
        load_task("mmlu", mini_data, num_fewshot=5)
    with pytest.raises(EvalDataError, match="unknown task"):
        parse_tasks("arc_easy,squad")
