"""The embedded tiny models: deterministic, small, saved atomically, loadable as usual."""

from __future__ import annotations

from pathlib import Path

import pytest

from dw_lsp.worker.loading import tiny

pytestmark = pytest.mark.slow


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".safetensors", ".json") and p.name != "model_index.json"
    }


def test_materialising_is_deterministic_small_and_atomic(tmp_path: Path) -> None:
    first = tiny.materialize("tiny-sd", tmp_path / "a")
    second = tiny.materialize("tiny-sd", tmp_path / "b")
    assert first.name == f"tiny-sd-{tiny.VERSION}"
    assert tree(first) == tree(second)
    size = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    assert 1_000_000 < size < 10_000_000
    assert [p.name for p in (tmp_path / "a").iterdir()] == [first.name]  # no staging left
    assert tiny.materialize("tiny-sd", tmp_path / "a") == first


def test_builtin_names_map_to_the_cache_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    assert tiny.resolve_model_name("some/hub-id", tmp_path) == "some/hub-id"
    path = Path(tiny.resolve_model_name("builtin:tiny-ddpm", tmp_path))
    assert (path / "model_index.json").is_file()
    with pytest.raises(ValueError, match="builtin:tiny-sd"):
        tiny.materialize("tiny-nothing", tmp_path)


def test_the_tokenizer_takes_any_prompt(tmp_path: Path) -> None:
    from transformers import CLIPTokenizer

    path = tiny.materialize("tiny-sd", tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer")
    ids = tokenizer("Ünïcode ☃ and emoji 🎨!")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:-1]
