"""Stand-in models (DESIGN.md "Stand-in models"): tiny random-weight models of the classes a
workflow names, so any workflow runs end to end on a CPU in seconds through the real loading
and calling code.

- :mod:`.registry`: plain data, the tiny config of each part per family (one entry a family);
- :mod:`.vocab`: tokenizers and processors built in code (nothing is downloaded);
- :mod:`.build`: parts from the registry with seeded weights, pipelines assembled from their
  constructor's signature;
- :mod:`.store`: saving each stand-in once into the model cache, keyed by class and config;
- :mod:`.ip_adapters`: IP-Adapters for a stand-in denoiser, in the layout diffusers reads;
- :mod:`.modular`: modular pipelines, chosen by the repository a workflow loads;
- :mod:`.adjust`: what else a stand-in run changes in a step (compile backend, dtypes, the
  IP-Adapter);
- :mod:`.run`: one run's stand-ins (which sources are replaced, the report, the output folder);
- :mod:`.shrink` and :mod:`.media`: the slow call arguments shrunk, placeholder media.

Part of the worker: may import torch, diffusers and transformers (lazily, where building
needs them); never the session, the server or LSP types.
"""
