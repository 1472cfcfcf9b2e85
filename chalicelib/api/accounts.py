"""POST /accounts/login and GET /accounts/logout (SPEC §4.11), as `es login` / `es logout`
and esdc_api.Client.login/logout use them. Answers are Danube Cloud's, not task envelopes."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, plain, routes
from chalicelib.domain import http_texts

bp = Blueprint(__name__)


def _client() -> str:
    """The caller's address as API Gateway saw it (requestContext.identity.sourceIp)."""
    try:
        context = bp.current_request.context or {}
        return str((context.get("identity") or {}).get("sourceIp") or "unknown")
    except Exception:  # noqa: BLE001 (a log detail never fails a request)
        return "unknown"


def login(ctx: Ctx) -> Reply:
    from chalicelib.services.identity import login as service
    try:
        username, password = service.credentials(ctx.body)
        done = service.login(username, password, _client())
    except service.LoginInvalid as exc:
        # Danube Cloud's api_login: the serializer's field errors under "detail"
        return plain({"detail": exc.errors}, 400)
    except service.LoginThrottled as exc:
        return Reply(exc.status, {"detail": exc.detail}, {"Retry-After": str(exc.retry_after)})
    ctx.principal = done.principal  # es_username of the answer, as Danube Cloud sets it
    return plain({"token": done.token, "expires": done.expires_iso,
                  "detail": http_texts.LOGIN_WELCOME})


def logout(ctx: Ctx) -> Reply:
    from chalicelib.services.identity import login as service
    from chalicelib.services.identity.authentication import authorization_token
    service.logout(ctx.caller.username, authorization_token(ctx), _client())
    return plain({"detail": http_texts.LOGOUT_BYE})


routes(bp, "/accounts/login", {"POST": login}, authenticated=False)
routes(bp, "/accounts/logout", {"GET": logout})
