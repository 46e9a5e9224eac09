"""Errors whose message tells the user what to do; stages print them without a traceback."""


class UserError(Exception):
    """Base: an explained failure (bad input, missing data, divergence)."""


class DatasetUnavailable(UserError, RuntimeError):
    """The dataset's files are not here, are corrupt, and/or cannot be fetched."""


class DivergenceError(UserError, RuntimeError):
    """A network's training loss became non-finite."""


class CorruptFile(UserError, RuntimeError):
    """A file the pipeline wrote is unreadable (truncated, foreign or stale)."""
