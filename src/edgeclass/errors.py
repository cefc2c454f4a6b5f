"""The one exception type a user sees. The CLI prints its message on one line and exits non-zero."""


class EdgeclassError(Exception):
    """A problem the user can fix: the message says what went wrong and what to do next."""


class UnreadableImage(EdgeclassError):
    """A file that is not a decodable image (skipped and counted wherever images are read in bulk)."""
