"""exoscale_ai_simulator: a local simulator of the Exoscale Dedicated Inference (AI) API. Imports nothing of the collection."""
