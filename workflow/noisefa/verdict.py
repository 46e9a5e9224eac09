"""One verdict per claim, read from the primary rows of the claims table.

The rule, written before any result was looked at:

- ``not computed``: the claim has no primary row (its experiment is off, or its data are missing);
- ``holds``: every primary row holds;
- ``fails``: no primary row holds;
- ``mixed``: some primary rows hold and some do not (for example one dataset or depth but not
  another, or faster learning but not close to BP); ``evidence`` names the rows that do not.

Primary rows (``claims.py``) test the claim as the paper states it, over networks, under the
configured noise set and protocol, after Holm's adjustment within the claim.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COLUMNS = ["claim", "figure", "statement", "verdict", "evidence", "rows", "noise_set", "protocol", "batchnorm"]
VERDICTS = ("holds", "fails", "mixed", "not computed")

# claim -> (figure, the paper's claim in a few words)
STATEMENTS: dict[str, tuple[str, str]] = {
    "C1": ("1e", "untrained last-layer angle is at 90°"),
    "C2": ("1e", "noise training lowers the angle well below 90°"),
    "C3": ("1d", "cross-entropy falls during noise training"),
    "C4": ("1f", "alignment appears under several random-input conditions"),
    "C5": ("2b", "FA w/ learns faster than FA w/o, close to BP"),
    "C6": ("2c", "final angle after data training lower w/ than w/o"),
    "C7": ("2d,e", "W ends closer to B w/ than w/o"),
    "C8": ("2f,g", "data→noise leaves the weights; noise→data lowers the angle"),
    "C9": ("3, Tab.1", "FA w/ narrows the accuracy gap to BP"),
    "C10": ("4b", "untrained readout ≠ chance; noise-trained readout ≈ chance"),
    "C11": ("4c,d", "effective rank of W falls during noise training"),
    "C12": ("4e,f", "smaller generalisation gap w/ than w/o"),
    "C13": ("4g,h", "lower Gram-matrix effective dimensionality w/"),
    "C14": ("5b", "higher accuracy on translated / rotated / scaled inputs w/"),
    "C15": ("5c", "higher accuracy on another dataset (USPS) w/"),
    "C16": ("6", "meta-loss falls during noise training; faster adaptation w/"),
    "B1": ("rules", "FA w/ learns faster than the other rules without weight transport"),
    "B2": ("rules", "FA w/ converges higher than the other rules"),
    "B3": ("rules", "FA w/ is better calibrated than the other rules"),
}


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.2g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3g}"


def _evidence(row) -> str:
    where = f"{row.dataset} d{row.depth}"
    level = "90%" if getattr(row, "rule", "") == "equivalent" else "95%"  # TOST's interval is the 90 % one
    return (
        f"{row.comparison} [{where}]: effect {_fmt(row.effect)} ({level} CI {_fmt(row.ci_low)}..{_fmt(row.ci_high)}), "
        f"{row.test}, n={int(row.n)}, p={_fmt(row.p_value)}, Holm p={_fmt(row.p_holm)}"
    )


def computable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a finite p-value: a test without one (too few networks, no gap to close) decides nothing."""
    return rows[np.isfinite(rows.p_value.astype(float))] if len(rows) else rows


def verdict_of(primary: pd.DataFrame) -> str:
    primary = computable(primary)
    if primary.empty:
        return "not computed"
    held = primary.holds.astype(bool)
    return "holds" if held.all() else "fails" if not held.any() else "mixed"


def _weakness(rows: pd.DataFrame) -> pd.Series:
    """How close each row is to the other verdict: its adjusted p, or for a no-detectable-difference
    row (which holds on a large p) one minus it."""
    p = rows.p_holm.astype(float)
    return p.where(rows.get("rule", pd.Series("", index=rows.index)) != "undetected", 1 - rows.p_value.astype(float))


def verdict_table(claims: pd.DataFrame, context: dict | None = None) -> pd.DataFrame:
    """One row per claim of ``STATEMENTS`` (C1-C16, B1-B3), in that order."""
    context = context or {}
    primary = claims[claims.primary.astype(bool)] if not claims.empty else claims
    out = []
    for claim, (figure, statement) in STATEMENTS.items():
        rows = primary[primary.claim == claim] if not primary.empty else primary
        v = verdict_of(rows)
        usable = computable(rows)
        if v == "not computed":
            evidence = "no primary row with a test (experiment disabled, data missing or too few networks)"
        else:
            held = usable.holds.astype(bool)
            shown = usable[~held] if v == "mixed" else usable
            worst = shown.loc[_weakness(shown).idxmax()]  # the row closest to the other verdict speaks
            lead = f"{int(held.sum())}/{len(usable)} primary rows hold"
            if len(usable) < len(rows):
                lead += f" ({len(rows) - len(usable)} without a test)"
            evidence = f"{lead}; {'not holding' if v == 'mixed' else 'weakest'}: {_evidence(worst)}"
        sets = sorted(set(rows.noise_set.dropna())) if len(rows) else [context.get("noise", "")]
        protocols = sorted(set(rows.protocol.dropna())) if len(rows) else []
        bn = rows.batchnorm.dropna().unique() if len(rows) else []
        out.append(
            {
                "claim": claim,
                "figure": figure,
                "statement": statement,
                "verdict": v,
                "evidence": evidence,
                "rows": len(rows),
                "noise_set": ", ".join(s for s in sets if s),
                "protocol": ", ".join(p for p in protocols if p),
                "batchnorm": bool(bn[0]) if len(bn) == 1 else "by depth" if len(bn) else context.get("batchnorm", pd.NA),
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def markdown(verdicts: pd.DataFrame) -> str:
    """The verdict table as Markdown (README, report): claim, figure, statement, verdict, evidence."""
    lines = ["| claim | figure | the paper's claim | verdict | evidence |", "|---|---|---|---|---|"]
    for r in verdicts.itertuples():
        evidence = r.evidence.replace("|", "\\|")  # a norm's bars would end the cell
        lines.append(f"| {r.claim} | {r.figure} | {r.statement} | **{r.verdict}** | {evidence} |")
    first = verdicts.iloc[0] if len(verdicts) else None
    if first is not None:
        lines += ["", f"Noise set {first.noise_set or '-'} ({first.protocol or '-'}), BatchNorm {first.batchnorm}."]
    return "\n".join(lines) + "\n"
