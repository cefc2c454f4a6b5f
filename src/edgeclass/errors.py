"""The one exception type a user sees. The CLI prints its message on one line and exits non-zero."""

from __future__ import annotations


class EdgeclassError(Exception):
    """A problem the user can fix: the message says what went wrong and what to do next."""


class UnreadableImage(EdgeclassError):
    """A file that cannot be used as an image (skipped, named and counted wherever images are read in
    bulk). ``status`` is ``unreadable`` (empty, truncated, corrupt, not an image, too large, cannot
    open) or ``unusable`` (decodes, but too small for a model); ``reason`` is one of the reasons in
    ``edgeclass.image``; ``detail`` says what exactly was found."""

    def __init__(self, path: str, reason: str, detail: str = "", status: str = "unreadable"):
        self.path, self.reason, self.detail, self.status = str(path), reason, detail, status
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))
