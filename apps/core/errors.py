"""Exceptions raised by the Core, each carrying a sentence a scientist understands."""

from __future__ import annotations


class CoreError(Exception):
    """Base class of every error the Core raises on purpose."""


class DataSetError(CoreError, ValueError):
    """A data file is missing, unreadable, or does not match its description."""


class ForbiddenReference(DataSetError):
    """A file refers to a file the portal may not read (outside the allowed folders, missing,
    or stored in a way that is never followed).

    ``param`` names the dataset parameter that named the file (``"dark"``), or is None for a
    reference inside the data itself.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def __reduce__(self) -> tuple[type, tuple[str], dict[str, str | None]]:
        return (type(self), (str(self),), {"param": self.param})


class ParameterError(CoreError, ValueError):
    """An analysis parameter, ROI or mask is invalid.

    ``field`` names the parameter (``"r"``, ``"roi"``, ``"masks"``, ...) so that forms and the
    API can show the message next to it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Raised on a dask worker, it must survive the trip back to the driver.
        return (type(self), (self.field, self.message))


class JobCancelled(CoreError):
    """The run was cancelled; running partitions stopped at their next tile."""

    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)
