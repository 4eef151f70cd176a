"""The ASGI application: the API under ``/api/v1``, the admin pages, operations, webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.sessions import SessionMiddleware

from roomsync_web import __version__, errors, ops, webhooks
from roomsync_web.addin import routes as addin_pane
from roomsync_web.api import addin, admin, freebusy, reservations, rooms
from roomsync_web.api.schemas import PROBLEMS
from roomsync_web.middleware import API, RequestGuard
from roomsync_web.pages import routes as pages
from roomsync_web.security import RateLimits
from roomsync_web.service import WebService

SESSION_COOKIE = "roomsync_session"
SESSION_SECONDS = 8 * 3600


def create_app(service: WebService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="roomsync",
        version=__version__,
        summary="ROOMS and Exchange calendars in step: free/busy, rooms, reservations, administration.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.rate_limits = RateLimits(service.config.rate_limit)
    errors.install(app)
    for router in (freebusy.router, rooms.router, reservations.router, admin.router, addin.router):
        app.include_router(router, prefix=API, responses=PROBLEMS)
    app.include_router(ops.router)
    app.include_router(webhooks.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    addin_pane.mount(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=service.config.secret_for_sessions(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_SECONDS,
        same_site="strict",
        https_only=service.config.certfile is not None,
    )
    if service.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=service.config.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            max_age=600,
        )
    app.add_middleware(RequestGuard, max_body=service.config.max_body_bytes, metrics=service.metrics)
    return app
