"""roomsync on many machines: Celery workers running one task per mailbox cycle, and the
scheduler that enqueues them (``roomsync worker``, ``roomsync scheduler``)."""

__version__ = "0.1.0"
