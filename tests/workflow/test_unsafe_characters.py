"""One rule for characters no name, caller value or path may hold (C0, DEL, C1, bidi controls,
lone surrogates), applied by every filter: the Session's argument checks, the worker's
variable coercion, output names (the checker's DW233 and the worker's writer), and the path
rules of the checker and the worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dw_lsp.session.inputs import InputError, check_argument_name, check_argument_value
from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.paths import path_violation
from dw_lsp.workflow.refs import VARIABLE_NAME_RE, unsafe_character, unsafe_output_name

UNSAFE = {
    "NUL": "\x00",
    "ESC (C0)": "\x1b",
    "DEL": "\x7f",
    "NEL (C1)": "\x85",
    "CSI (C1)": "\x9b",
    "ALM": "\u061c",
    "LRM": "\u200e",
    "RLM": "\u200f",
    "LRE": "\u202a",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "PDI": "\u2069",
    "lone high surrogate": "\ud800",
    "lone low surrogate": "\udfff",
}
SAFE = ["plain", "é", "日本", "🦊", "zero\u200dwidth joiner", "a\u00a0b"]


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_every_unsafe_character_is_named(char: str) -> None:
    why = unsafe_character(f"a{char}b")
    assert why is not None and f"U+{ord(char):04X}" in why
    assert unsafe_output_name(f"a{char}b") == f"contains {why}"
    assert path_violation(f"img{char}.png") == f"contains {why}"


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_text_passes(text: str) -> None:
    assert unsafe_character(text) is None and unsafe_output_name(text) is None


def test_values_keep_tab_cr_and_lf_and_names_do_not() -> None:
    assert unsafe_character("a\tb\r\nc", "\t\r\n") is None
    assert unsafe_output_name("a\tb") is not None


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_the_session_refuses_an_argument_value_with_it(char: str) -> None:
    with pytest.raises(InputError, match=f"U\\+{ord(char):04X}"):
        check_argument_value("prompt", f"a cat{char}")


@pytest.mark.parametrize("name", ["prompt\n", "prompt\x85", "pro\u202empt", "\ud800"])
def test_an_argument_name_with_it_is_refused(name: str) -> None:
    assert not VARIABLE_NAME_RE.match(name)
    with pytest.raises(InputError, match="Invalid argument name"):
        check_argument_name(name)


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\x7f", "\u202e", "\u2066"])
@pytest.mark.parametrize("where", ["id", "name", "file_base_name"])
def test_the_checker_flags_an_output_name_with_it(char: str, where: str, tmp_path: Path) -> None:
    step = {
        "name": f"save{char}" if where == "name" else "save",
        "task": {"command": "gather_inputs", "arguments": {"x": 1}},
        "result": {"content_type": "application/json"},
    }
    if where == "file_base_name":
        step["result"]["file_base_name"] = f"b{char}"
    document = {"id": f"w{char}" if where == "id" else "w", "steps": [step]}
    text = json.dumps(document, ensure_ascii=False)
    problems = check_document(parse(text), CheckContext(path=tmp_path / "w.json"))
    unsafe = [p for p in problems if p.code == "DW233"]
    assert len(unsafe) == 1 and f"U+{ord(char):04X}" in unsafe[0].message, problems
