"""Tables in their contracts for tests that build them by hand (noisefa.analysis.tidy holds the contracts)."""

import pandas as pd

from noisefa.analysis import tidy

_NEUTRAL = {"kind": "main", "train_size": pd.NA, "converged": True, "diverged": False}


def summary(rows) -> pd.DataFrame:
    """Summary rows in the contract; the columns a test does not set get neutral values (NaN numbers)."""
    df = pd.DataFrame(rows)
    for col in tidy.SUMMARY_COLUMNS:
        if col not in df:
            df[col] = _NEUTRAL.get(col, float("nan"))
    return tidy.summary_frame(df)
