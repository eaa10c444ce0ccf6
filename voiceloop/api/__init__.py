"""The HTTP API (OpenAI-compatible speech endpoints, status, metrics, events) and the web console."""
