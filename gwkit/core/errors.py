"""One error hierarchy: every gwkit library error is a :class:`GwkitError`.

Libraries raise these (one line for the user, naming the file and the
problem); only a command's ``main`` turns them into an exit status. Each
subclass also derives from the builtin its callers already catch
(``ValueError`` for bad input), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["DataError", "GwkitError", "LabelledSetError", "UnsafePathError"]


class GwkitError(Exception):
    """Base of gwkit's errors: the message is one line that names the file and the problem."""


class LabelledSetError(GwkitError, ValueError):
    """A labelled set (labels, scores, strain) that cannot be used as given."""


class DataError(GwkitError, ValueError):
    """A data file is missing pieces, malformed, truncated or unsafe."""


class UnsafePathError(DataError, OSError):
    """A path that leads outside the folders the user named: a symbolic link, ``..``, an
    absolute name read from a file, an archive member that escapes. Also an ``OSError``,
    so callers that catch unwritable outputs catch it too."""
