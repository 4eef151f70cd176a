"""The Outlook add-in's task pane, served as static files under ``/addin/``."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
PANE_FILES = ("taskpane.html", "taskpane.js", "taskpane.css", "strings.js")


class _PaneFiles(StaticFiles):
    """Only the pane's own files: the add-in package's Python modules are not served."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in PANE_FILES:
            return "", None
        return super().lookup_path(path)


def mount(app: FastAPI) -> None:
    app.mount("/addin", _PaneFiles(directory=HERE), name="addin")
