"""The error every handler raises; the server turns it into an RFC 9457 problem-details response."""
from http import HTTPStatus


class ApiError(Exception):
    def __init__(self, status, detail, body=None, headers=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.body = body
        self.headers = headers or {}

    def problem(self):
        if self.body is not None:
            return self.body
        return problem(self.status, self.detail)


def problem(status, detail):
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}
