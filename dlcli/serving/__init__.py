"""``dlcli serve``'s parts: JSON rows to features (``rows``), micro-batches through one compiled function
(``batcher``), the FastAPI app and its OpenAPI schema (``app``, ``schema``). ``dlcli.serve`` runs them."""
