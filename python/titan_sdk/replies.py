"""Replies shaped as the original Titan SDK returned them, carrying what this SDK returns.

The original SDK answered most calls with the master's text (``"UPLOAD_SUCCESS"``), and code
written for it tests that text (``"UPLOAD_SUCCESS" in resp``, ``resp.strip()``). Where this
SDK returns an object instead, it returns it wrapped in a ``str`` of the original's text, so
both kinds of code work.
"""

from __future__ import annotations

from typing import Any

from .models import ArtifactInfo

#: The original SDK's reply to a successful upload.
UPLOAD_SUCCESS = "UPLOAD_SUCCESS"


class ArtifactReply(str):
    """What :meth:`~titan_sdk.client.TitanClient.upload_file` and
    :meth:`~titan_sdk.client.TitanClient.upload_project_folder` return: the text
    ``"UPLOAD_SUCCESS"``, as the original SDK returned, carrying the
    :class:`~titan_sdk.models.ArtifactInfo` of what was stored. Its fields read through
    (``.name``, ``.hash``, ``.size``, ``.kind``), ``.info`` is the ``ArtifactInfo`` itself, and
    it compares equal to that ``ArtifactInfo`` (and, as text, to ``"UPLOAD_SUCCESS"``)."""

    info: ArtifactInfo

    def __new__(cls, info: ArtifactInfo, text: str = UPLOAD_SUCCESS) -> "ArtifactReply":
        reply = super().__new__(cls, text)
        reply.info = info
        return reply

    def __getattr__(self, name: str) -> Any:
        if name == "info":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.info, name)

    def __eq__(self, other: object) -> Any:
        if isinstance(other, ArtifactReply):
            return self.info == other.info
        if isinstance(other, ArtifactInfo):
            return self.info == other
        return str.__eq__(self, other)  # NotImplemented for what is not text

    def __ne__(self, other: object) -> Any:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"ArtifactReply({str(self)!r}, {self.info!r})"
