"""The Session every front end drives, and the WorkerClient it uses. asyncio; no LSP
types, no torch."""
