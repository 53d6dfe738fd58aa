"""User name + password holders that never show the password (repr, str, errors)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from .errors import AuthError


@dataclass(frozen=True, repr=False)
class Credentials:
    """A user name and password, passed in by the caller (e.g. read from environment variables)."""

    username: str
    password: str

    env_user: ClassVar[str] = "ARCHIVE_USERNAME"
    env_password: ClassVar[str] = "ARCHIVE_PASSWORD"

    def __repr__(self) -> str:  # the user name identifies an account: not shown either
        return f"{type(self).__name__}(username=***, password=***)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, user_var: str | None = None, password_var: str | None = None):
        """Read the credentials from two environment variables (a clear error names a missing one)."""
        user_var = user_var or cls.env_user
        password_var = password_var or cls.env_password
        missing = [v for v in (user_var, password_var) if not os.environ.get(v)]
        if missing:
            raise AuthError(f"{cls.__name__}: environment variable {', '.join(missing)} is not set")
        return cls(os.environ[user_var], os.environ[password_var])
