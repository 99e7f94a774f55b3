"""What a browser gets: the origins allowed to call the service (CORS and websockets), and the
pages (`/docs`, GraphiQL; `/` is the reading room, api/reading/) with every script and style
served from the installation.

No page loads anything from a CDN, so they work on a network without internet. The assets come
from PyPI packages installed with the service (pyproject.toml pins them, since the paths inside
are relied on): Swagger UI from `swagger-ui-bundle-v2`, GraphiQL with React, graphql-ws and the
explorer plugin from `graphene-django-graphiql-static` (static files only; docs/decisions.md).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from timeline.settings import Settings

#: Origins a development machine's frontends run on: any port of localhost and 127.0.0.1.
DEVELOPMENT_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"

#: Where the installed packages' files are served.
SWAGGER_UI_ASSETS = "/static/swagger-ui"
GRAPHIQL_ASSETS = "/static/graphiql"


def origin_regex(settings: Settings) -> str | None:
    """The origins allowed beyond `TIMELINE_CORS_ORIGINS`: localhost's in development only."""
    return DEVELOPMENT_ORIGINS if settings.development else None


def swagger_ui_dir() -> Path:
    """Swagger UI's files (swagger-ui-bundle.js, swagger-ui.css) in swagger-ui-bundle-v2."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def graphiql_dir() -> Path:
    """GraphiQL's UMD bundles and styles in graphene-django-graphiql-static (its Django view
    is never imported: the package declares no dependency and only its files are used)."""
    root = files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
    return Path(str(root))


def graphiql_html() -> str:
    """The GraphiQL page (api/graphiql.html), its assets under GRAPHIQL_ASSETS."""
    page = (files("api") / "graphiql.html").read_text(encoding="utf-8")
    return page.replace("__ASSETS__", GRAPHIQL_ASSETS)


router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json, its script, style and icon from this server."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title}: REST API",
        swagger_js_url=f"{SWAGGER_UI_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI_ASSETS}/favicon-32x32.png",
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Add `/docs` and the assets they load (GraphiQL's only when it is served)."""
    app.include_router(router)
    app.mount(SWAGGER_UI_ASSETS, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")
    if settings.development:
        app.mount(GRAPHIQL_ASSETS, StaticFiles(directory=graphiql_dir()), name="graphiql")
