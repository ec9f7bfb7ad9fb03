"""HTTP Polling inbound connector worker for Camunda 8 / Zeebe."""

__version__ = "0.1.0"
