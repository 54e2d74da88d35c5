"""The error body every failing request answers with (and a failed job carries)."""

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorInfo
