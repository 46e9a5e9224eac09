"""Errors whose message tells the user what to do; stages print them without a traceback."""


class UserError(Exception):
    """Base: an explained failure (bad input, missing data, divergence)."""


class DatasetUnavailable(UserError, RuntimeError):
    """The dataset's files are not here, are corrupt, and/or cannot be fetched."""


class DivergenceError(UserError, RuntimeError):
    """A network's training loss became non-finite."""


class CorruptFile(UserError, RuntimeError):
    """A file the pipeline wrote is unreadable (truncated, foreign or stale)."""


class SizeError(UserError, ValueError):
    """A size in the config asks for more than the data holds (checked before anything is written)."""


def remake_hint(path) -> str:
    """How to remake a bad file the pipeline wrote, and everything computed from it. Deleting it is
    not enough: when the tables made from it are newer, Snakemake has nothing to do; forcing the rule
    reruns every job of that rule."""
    return f"remake it and everything computed from it with: snakemake --forcerun {path} (plus your usual --configfile/--profile)"


def refuse_larger(key: str, value: int, available: int, what: str) -> None:
    """Raise SizeError naming the config ``key`` when ``value`` exceeds the ``available`` ``what``."""
    if value > available:
        raise SizeError(
            f"config key {key}: {value} is larger than the {available} {what}; "
            f"set it to at most {available} (nothing was written)"
        )
