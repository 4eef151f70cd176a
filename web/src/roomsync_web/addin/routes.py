"""The Outlook add-in's task pane and sign-in dialog, served as static files under ``/addin/``,
its icons, and the dialog's public settings."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, HTTPException, Response
from fastapi.staticfiles import StaticFiles

from roomsync_web.addin import icons
from roomsync_web.addin.sign_in import SignInSettings, sign_in_settings

HERE = Path(__file__).parent
PANE_FILES = (
    "taskpane.html",
    "taskpane.js",
    "taskpane.css",
    "strings.js",
    "series.js",
    "signin.html",
    "signin.js",
)


class _PaneFiles(StaticFiles):
    """Only the pane's own files: the add-in package's Python modules are not served."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in PANE_FILES:
            return "", None
        return super().lookup_path(path)


def _icon(size: int) -> Response:
    if size not in icons.SIZES:
        raise HTTPException(status_code=404)
    return Response(icons.png(size), media_type="image/png", headers={"Cache-Control": "max-age=86400"})


def mount(app: FastAPI) -> None:
    # The icons' route comes first: the mount below takes every other path under /addin.
    app.add_api_route("/addin/icon-{size}.png", _icon, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/addin/sign-in.json",
        sign_in_settings,
        methods=["GET"],
        response_model=SignInSettings,
        include_in_schema=False,
    )
    app.mount("/addin", _PaneFiles(directory=HERE), name="addin")
