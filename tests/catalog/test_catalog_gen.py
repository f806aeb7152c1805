"""The generator's pure helpers (no diffusers import): docstring sections, ``**kwargs``
use, the module scanner and the output layout the loader reads."""

from __future__ import annotations

import ast
import enum
import json

from dw_lsp.catalog import Catalog
from dw_lsp.catalog.gen import classes as catalog_classes
from dw_lsp.catalog.gen import layout as catalog_format
from dw_lsp.catalog.gen import modules as catalog_source
from dw_lsp.catalog.gen import text as catalog_text

DOC = """Run the pipeline.

    Args:
        prompt (`str` or `list[str]`, *optional*):
            The prompt or prompts to guide the image generation.
            Second line of the same paragraph.

            A later paragraph that is left out.
        num_inference_steps (`int`, *optional*, defaults to 50):
            The number of denoising steps.
        ip_adapter_image: (`PipelineImageInput`, *optional*): Optional image input.

    Examples:
        prompt: not an argument
    """


def test_args_section() -> None:
    docs = catalog_text.parse_args_section(DOC)
    assert docs == {
        "prompt": "The prompt or prompts to guide the image generation. "
        "Second line of the same paragraph.",
        "num_inference_steps": "The number of denoising steps.",
        "ip_adapter_image": "Optional image input.",
    }
    assert catalog_text.parse_args_section("No sections here.") == {}
    assert catalog_text.parse_args_section(None) == {}


def test_clip_keeps_a_sentence_or_word() -> None:
    assert catalog_text.clip("One.  Two   three.", 100) == "One. Two three."
    long = "First sentence is here. " + "word " * 100
    assert catalog_text.clip(long, 40) == "First sentence is here."
    assert catalog_text.clip("x" * 10 + " " + "y" * 100, 50).endswith(" …")


class Colour(enum.Enum):
    RED = 1


def test_defaults_are_stable() -> None:
    assert catalog_text.format_default(Colour.RED) == "Colour.RED"
    assert catalog_text.format_default({"b", "a"}) == "{'a', 'b'}"
    assert catalog_text.format_default(len) == "len"
    assert catalog_text.format_default(object()) == "<object>"
    assert len(catalog_text.format_default("x" * 500)) == catalog_text.DEFAULT_LIMIT


def ignores_kwargs(prompt: str, **kwargs: object) -> None:
    callback = kwargs.pop("callback", None)
    del callback


def passes_kwargs(prompt: str, **kwargs: object) -> dict[str, object]:
    return dict(kwargs, prompt=prompt)


def test_kwargs_use_from_source() -> None:
    assert catalog_classes.kwargs_keys(ignores_kwargs, "kwargs") == ["callback"]
    assert catalog_classes.kwargs_keys(passes_kwargs, "kwargs") is None
    sig = catalog_classes.signature(ignores_kwargs, {})
    assert sig["var_keyword"] is False and sig["kwargs_keys"] == ["callback"]
    assert sig["parameters"] == [{"name": "prompt", "annotation": "str"}]


MODULE = '''"""Doc."""
import torch
from .base import Base, helper as _helper
from ..models import (  # noqa
    ModelA,
    ModelB as Alias,
)
CONSTANT = 1
typed: int = 2
_private = 3

class Public(Base):
    inner = 4

    def method(self):
        from .lazy import Lazy

def function():
    pass

if torch.cuda.is_available():
    from .cuda import CudaThing
    GUARDED = True
    if True:
        DEEP = 1
try:
    import xformers
except ImportError:
    FALLBACK = None
'''


def test_module_scan_finds_public_names() -> None:
    names = catalog_source.scan(MODULE)
    expected = {"Base", "ModelA", "Alias", "CONSTANT", "typed", "Public", "function"}
    expected |= {"CudaThing", "GUARDED", "FALLBACK"}
    assert expected <= names
    assert not {"inner", "method", "Lazy", "DEEP", "torch", "xformers"} & names
    assert {"Base", "ModelA", "Alias", "Public", "CudaThing", "DEEP"} <= catalog_source.collect(
        ast.parse(MODULE).body
    )


def test_layout_is_read_lazily_by_the_loader() -> None:
    payload = {
        "format": 1,
        "generator": catalog_format.GENERATOR,
        "diffusers_version": "9.9.9",
        "kinds": {"APipeline": "pipeline", "BModel": "model"},
        "classes": {
            "BModel": {"kind": "model", "module": "m", "init": {"parameters": [{"name": "x"}]}},
            "APipeline": {
                "kind": "pipeline",
                "module": "p",
                "call": {"parameters": [{"name": "prompt", "default": "None"}]},
                "callback_on_step_end": False,
            },
        },
    }
    text = catalog_format.dumps(payload, "classes")
    assert json.loads(text) == payload
    lines = text.splitlines()
    assert lines[-3].startswith('"APipeline": ') and lines[-2].startswith('"BModel": ')
    catalog = Catalog.from_json(text)
    assert catalog.diffusers_version == "9.9.9"
    assert catalog.class_names() == ["APipeline", "BModel"]
    assert list(catalog.call_parameters("APipeline")) == ["prompt"]
    model = catalog.model("BModel")
    assert model is not None and model.init is not None and model.init.parameters["x"].required
