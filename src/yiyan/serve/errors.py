"""The API's error: every failure is JSON `{"error": "one line", "detail": ...}` with its status."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from yiyan.serve.schemas import ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(error=error, detail=detail).model_dump(), status_code=status, headers=headers
    )
