"""roomsync as a web service: the REST API ROOMS calls, the admin pages, health and metrics."""

__version__ = "0.1.0"
