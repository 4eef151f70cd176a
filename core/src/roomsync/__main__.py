"""``python -m roomsync``: the same command line as the ``roomsync`` script."""

from roomsync.cli.console import main

if __name__ == "__main__":
    main()
