"""The base of every domain error, and the one error the kit itself raises (bad input)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service reports to its caller (views, tasks, commands)."""


class ValidationFailed(ServiceError):
    """Input is malformed or breaks a rule; `fields` maps a field name to messages."""

    def __init__(self, message: str = "Invalid input.", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
