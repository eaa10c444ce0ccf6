"""Errors in the OpenAI shape (`{"error": {"message", "type", "code"}}`), which its clients parse."""

from __future__ import annotations

from starlette.responses import JSONResponse

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          413: "invalid_request_error", 429: "rate_limit_error", 503: "server_busy"}


def json_error(status: int, message: str, code: str | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": _TYPES.get(status, "server_error"), "param": None,
                      "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
