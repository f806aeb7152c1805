"""The "New workflow" completion: a minimal workflow that checks clean (FORMAT.md 1.2-1.4,
1.8, 1.9.1), offered in an empty document or an empty root object, as a snippet when the
client takes snippets and as plain text with every placeholder at its default otherwise.
Imports lsprotocol only.
"""

from __future__ import annotations

import re

from lsprotocol import types

from dw_lsp.server.clientcaps import ClientFeatures

#: A minimal workflow that checks clean (FORMAT.md 1.2-1.4, 1.8, 1.9.1).
SKELETON = """{
  "id": "${1:my-workflow}",
  "description": "${2:What this workflow makes.}",
  "variables": {
    "prompt": "${3:a lighthouse on a cliff at dawn}"
  },
  "steps": [
    {
      "name": "${4:generate}",
      "pipeline": {
        "configuration": {
          "component_type": "${5:StableDiffusionPipeline}"
        },
        "from_pretrained_arguments": {
          "model_name": "${6:stable-diffusion-v1-5/stable-diffusion-v1-5}"
        },
        "arguments": {
          "prompt": "variable:prompt"$0
        }
      },
      "result": {
        "content_type": "image/png"
      }
    }
  ]
}"""
_PLACEHOLDER = re.compile(r"\$\{\d+:([^}]*)\}|\$\d+")


def skeleton_text() -> str:
    """:data:`SKELETON` with every placeholder at its default (for plain-text clients)."""
    return _PLACEHOLDER.sub(lambda m: m.group(1) or "", SKELETON)


def skeleton_item(typed: str, rng: types.Range, client: ClientFeatures) -> types.CompletionItem:
    """The "New workflow" item replacing ``rng``, where ``typed`` was typed already."""
    plain = skeleton_text()
    use_snippet = client.snippets
    new_text = SKELETON if use_snippet else plain
    return types.CompletionItem(
        label="New workflow",
        kind=types.CompletionItemKind.Snippet,
        detail="id, a prompt variable and one Stable Diffusion step",
        documentation=client.markup("```json\n" + plain + "\n```", hover=False),
        sort_text="0",
        filter_text=typed + "New workflow",
        preselect=True,
        insert_text_format=(
            types.InsertTextFormat.Snippet if use_snippet else types.InsertTextFormat.PlainText
        ),
        text_edit=types.TextEdit(range=rng, new_text=new_text),
    )
