"""Domain errors: a refusal with a stable machine-readable `code`, raised by the shared helpers
(image validation, set archives, names). They know nothing of HTTP: the API translates each kind
into its status (`app.api.errors`), and the worker reports the code as a job's error.
"""


class DomainError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(DomainError):
    """The input is malformed or breaks a rule (HTTP 422)."""


class TooLarge(DomainError):
    """The input exceeds a size, pixel or count limit (HTTP 413)."""


class UnsupportedFormat(DomainError):
    """The input is not in a format the service reads (HTTP 415)."""


class NotFound(DomainError):
    """Something the request names, or a row refers to, does not exist (HTTP 404)."""
