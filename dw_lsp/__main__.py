"""``python -m dw_lsp``: the language server over stdio (``python -m dw_lsp check ...`` and
the other sub-commands of ``dw-lsp`` work too)."""

from __future__ import annotations

import sys

from dw_lsp.cli import main

sys.exit(main())
