"""The ``roomsync`` console script (and ``python -m roomsync``).

Stop signals are caught before the command line is imported (see :mod:`roomsync.cli.stopping`),
so ``roomsync run`` stops cleanly on SIGTERM at any moment after the interpreter started.
"""

from __future__ import annotations


def main() -> None:
    from roomsync.cli.stopping import STOPS

    STOPS.catch()
    from roomsync.cli.main import main as command_line

    command_line()
