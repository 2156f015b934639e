"""WeChat Pay style API errors: `{"code", "message", "detail"?}` with the documented HTTP status."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return body


def param_error(field: str, label: str, rule: str, value=None) -> ApiError:
    """A 400 PARAM_ERROR worded like the real service's field validation errors."""
    message = f"输入源“/body{field}”映射到值字段“{label}”{rule}"
    return ApiError(400, "PARAM_ERROR", message, {"location": "body", "value": value})


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message)


def system_error() -> ApiError:
    return ApiError(500, "SYSTEM_ERROR", "系统错误")


def frequency_limited() -> ApiError:
    return ApiError(429, "FREQUENCY_LIMITED", "频率超限")
