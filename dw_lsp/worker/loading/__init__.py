"""Loading pipelines and keeping them warm.

- :mod:`.loader`: one pipeline step's pipeline, loaded in dw's order (FORMAT.md 1.4);
- :mod:`.placement`: configuration applied to a constructed pipeline (devices, offload,
  casting, attention, layers);
- :mod:`.modular`: modular pipelines (``load_components``, ``configs``, components manager);
- :mod:`.hooks` and :mod:`.teacache`: cache hooks and TeaCache, reset around every call;
- :mod:`.compiling`: ``components.<name>.compile``;
- :mod:`.loadkey`: when a loaded pipeline may be reused (DESIGN.md, load keys);
- :mod:`.cache`: the warm cache keyed by load key;
- :mod:`.tiny`: the embedded tiny models (``builtin:tiny-sd`` ...).

Part of the worker: may import torch and diffusers; never imports the session, the server
or LSP types.
"""
