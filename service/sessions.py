"""Browser sessions of the diagnostic page: an API key exchanged once for a random session token, kept in
memory (a restart signs everybody out) and sent back as an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from service.keys import ApiKey

COOKIE_NAME = "cma_session"


@dataclass(frozen=True)
class Session:
    """Who is signed in, and until when."""

    key: ApiKey
    expires_at: float


class SessionStore:
    """Sessions by the SHA-256 of their token (the token itself is only in the browser's cookie)."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _id(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, key: ApiKey) -> str:
        """A new session for a verified key; returns its token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
            self._sessions[self._id(token)] = Session(key, now + self.ttl_seconds)
        return token

    def get(self, token: str | None) -> Session | None:
        """The live session of a token, if any."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(self._id(token))
        return session if session is not None and session.expires_at > time.monotonic() else None

    def close(self, token: str | None) -> None:
        """Sign out."""
        if token:
            with self._lock:
                self._sessions.pop(self._id(token), None)
