"""The ways besides the dashboard of calling analyze: the HTTP API and the batch runner."""
