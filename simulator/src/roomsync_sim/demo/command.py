"""The ``roomsync demo`` command, added by the simulator's ``roomsync_register_commands``.

It replaces the core's command of the same name, which only says to install the simulator.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.console import Console

from roomsync.cli.context import AppContext, pass_app
from roomsync_sim.demo.generations import NOTHING_INSTALLED, installed
from roomsync_sim.demo.scenario import Walkthrough


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database here (default: a temporary directory).",
)
@pass_app
def demo(app: AppContext, data_dir: Path | None) -> None:
    """Sync ROOMS with a simulated Exchange server of each generation, in this process."""
    if data_dir is not None and (data_dir / "roomsync.db").exists():
        # The simulated servers start empty every time.
        raise click.ClickException(f"{data_dir} holds the database of an earlier demo; name a new directory")
    out = Console(quiet=True) if app.as_json else app.console
    generations, skipped = installed()
    for label, note in skipped.items():
        out.print(f"[yellow]{label} skipped:[/yellow] {note}", highlight=False, soft_wrap=True)
    if not generations:
        raise click.ClickException(NOTHING_INSTALLED)
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="roomsync-demo-") as tmp:
            differences = Walkthrough(app, out, Path(tmp), generations).run()
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        differences = Walkthrough(app, out, data_dir, generations).run()
    if differences:
        raise click.exceptions.Exit(1)
