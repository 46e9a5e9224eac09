"""One verdict per statement of the paper, read from the primary rows of the claims table.

Each primary row has a ``direction`` (``claims.direction``): ``supports`` (its test succeeds),
``contradicts`` (significant in the opposite direction) or ``n.s.``. The rule, written before any
result was looked at:

- ``not computed``: the statement has no primary row with a test (its experiment is off, its data
  are missing, or too few networks);
- ``contradicted``: at least one primary row contradicts it, whatever the others say;
- ``holds``: every primary row supports it;
- ``fails``: none does (and none contradicts);
- ``mixed``: some support it and the rest are not significant (for example one depth but not another).

The evidence leads with the count of each kind of row; then it shows the strongest contrary row
(smallest adjusted p) when there is one, and the row that decides the verdict: for ``holds`` the
weakest supporting row, for ``mixed`` the not-holding row farthest from holding, for ``fails`` the
row *closest* to holding (the claim's best case still falls short).

Where the paper states two things, each is its own statement (C7a/C7b, C8a/C8b, C10a/C10b), and C5
is the Figure 2b cell with its depth sweep apart (C5s). A ``check`` (C1) tests the implementation,
not the paper: any correct independent initialisation passes it. A ``premise`` (C2) chose the
protocol (the rule in README, on seeds disjoint from the cells'): it holds by construction of the
config, so the same test under the paper's own protocol (fresh noise) is shown beside it.

Primary rows (``claims.py``) test the claim as the paper states it, over networks, under the
configured noise set and protocol, after Holm's adjustment within the statement.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COLUMNS = ["claim", "kind", "figure", "statement", "verdict", "supports", "not_significant", "contradicts", "evidence",
           "rows", "noise_set", "protocol", "batchnorm"]  # fmt: skip
VERDICTS = ("holds", "mixed", "fails", "contradicted", "not computed")
KINDS = ("claim", "check", "premise")

# statement -> (figure, the paper's statement in a few words, kind)
STATEMENTS: dict[str, tuple[str, str, str]] = {
    "C1": ("1e", "untrained last-layer angle is at 90°", "check"),
    "C2": ("1e", "noise training lowers the angle well below 90°", "premise"),
    "C3": ("1d", "noise training memorises the set: cross-entropy falls below ln C", "claim"),
    "C4": ("1f", "alignment appears under several random-input conditions", "claim"),
    "C5": ("2b", "FA w/ learns faster than FA w/o, close to BP (Figure 2b's cell)", "claim"),
    "C5s": ("3", "FA w/ learns faster than FA w/o at every dataset and depth", "claim"),
    "C6": ("2c", "final angle after data training lower w/ than w/o", "claim"),
    "C7a": ("2e", "W ends closer to B w/ than w/o", "claim"),
    "C7b": ("2d", "W moves from its untrained state in both arms", "claim"),
    "C8a": ("2g", "data→noise leaves the angle where data put it", "claim"),
    "C8b": ("2f", "noise→data lowers the angle (C6's test at Figure 2's cell)", "claim"),
    "C9": ("3, Tab.1", "FA w/ narrows the accuracy gap to BP", "claim"),
    "C10a": ("4b", "untrained readout differs from chance", "claim"),
    "C10b": ("4b", "noise-trained readout is at chance", "claim"),
    "C11": ("4c,d", "effective rank of W falls during noise training", "claim"),
    "C12": ("4e,f", "smaller generalisation gap (error) w/ than w/o", "claim"),
    "C13": ("4g,h", "lower Gram-matrix effective dimensionality w/", "claim"),
    "C14": ("5b", "higher accuracy on translated / rotated / scaled inputs w/", "claim"),
    "C15": ("5c", "higher accuracy on another dataset (USPS) w/", "claim"),
    "C16": ("6", "meta-loss falls during noise training; faster adaptation w/", "claim"),
    "B1": ("rules", "FA w/ learns faster than the other rules without weight transport", "claim"),
    "B2": ("rules", "FA w/ converges higher than the other rules", "claim"),
    "B3": ("rules", "FA w/ is better calibrated than the other rules", "claim"),
}


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.2g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3g}"


def _evidence(row) -> str:
    where = f"{row.dataset} d{row.depth}"
    level = "90%" if getattr(row, "rule", "") == "equivalent" else "95%"  # TOST's interval is the 90 % one
    lo, hi = (math.nan if v is None else float(v) for v in (row.ci_low, row.ci_high))
    finite = math.isfinite(lo) and math.isfinite(hi)
    ci = f"{level} CI {_fmt(row.ci_low)}..{_fmt(row.ci_high)}" if finite else "no interval"
    return (
        f"{row.comparison} [{where}]: effect {_fmt(row.effect)} ({ci}), "
        f"{row.test}, n={int(row.n)}, p={_fmt(row.p_value)}, Holm p={_fmt(row.p_holm)}"
    )


def computable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a finite p-value: a test without one (too few networks, no gap to close) decides nothing."""
    return rows[np.isfinite(rows.p_value.astype(float))] if len(rows) else rows


def _directions(rows: pd.DataFrame) -> pd.Series:
    """Each row's direction (a table written before directions existed: from ``holds``)."""
    if "direction" in rows:
        return rows.direction.astype(str)
    return rows.holds.astype(bool).map({True: "supports", False: "n.s."})


def verdict_of(primary: pd.DataFrame) -> str:
    primary = computable(primary)
    if primary.empty:
        return "not computed"
    d = _directions(primary)
    if (d == "contradicts").any():
        return "contradicted"
    return "holds" if (d == "supports").all() else "fails" if not (d == "supports").any() else "mixed"


def _weakness(rows: pd.DataFrame) -> pd.Series:
    """How far each row is from supporting the claim: its adjusted p, or for a no-detectable-difference
    row (which holds on a large p) one minus it. Small: close to supporting."""
    p = rows.p_holm.astype(float)
    return p.where(rows.get("rule", pd.Series("", index=rows.index)) != "undetected", 1 - rows.p_value.astype(float))


def evidence_of(rows: pd.DataFrame, v: str) -> str:
    """The evidence string of a verdict (the rule in the module docstring)."""
    if v == "not computed":
        return "no primary row with a test (experiment disabled, data missing or too few networks)"
    usable = computable(rows)
    d = _directions(usable)
    n_sup, n_ns, n_con = int((d == "supports").sum()), int((d == "n.s.").sum()), int((d == "contradicts").sum())
    lead = f"{len(usable)} primary row{'s' if len(usable) != 1 else ''}: {n_sup} support, {n_ns} n.s., {n_con} contradict"
    if len(usable) < len(rows):
        lead += f" ({len(rows) - len(usable)} without a test)"
    parts = [lead]
    if n_con:
        contrary = usable[d == "contradicts"]
        parts.append(f"strongest contrary: {_evidence(contrary.loc[contrary.p_holm.astype(float).idxmin()])}")
    weak = _weakness(usable)
    if v == "holds":
        parts.append(f"weakest: {_evidence(usable.loc[weak.idxmax()])}")
    elif v in ("mixed", "contradicted") and n_ns:
        ns = usable[d == "n.s."]
        parts.append(f"not holding: {_evidence(ns.loc[weak[ns.index].idxmax()])}")
    elif v == "fails":
        parts.append(f"closest to holding: {_evidence(usable.loc[weak.idxmin()])}")
    if v == "contradicted" and n_sup:
        sup = usable[d == "supports"]
        parts.append(f"supporting: {_evidence(sup.loc[weak[sup.index].idxmin()])}")
    return "; ".join(parts)


def _paper_protocol(claims: pd.DataFrame, claim: str) -> str:
    """A premise's test under the paper's own protocol (fresh noise), where the config ran it."""
    if claims.empty or "protocol" not in claims:
        return ""
    rows = claims[(claims.claim == claim) & ~claims.primary.astype(bool) & (claims.protocol.astype(str) == "fresh")]
    rows = rows[rows.comparison.str.contains("networks", regex=False)]
    if rows.empty:
        return ""
    d = _directions(rows)
    return "; premise used to choose the protocol. Under the paper's protocol (fresh noise): " + "; ".join(
        f"{direction}: {_evidence(r)}" for direction, r in zip(d, rows.itertuples())
    )


def verdict_table(claims: pd.DataFrame, context: dict | None = None) -> pd.DataFrame:
    """One row per statement of ``STATEMENTS``, in that order."""
    context = context or {}
    primary = claims[claims.primary.astype(bool)] if not claims.empty else claims
    out = []
    for claim, (figure, statement, kind) in STATEMENTS.items():
        rows = primary[primary.claim == claim] if not primary.empty else primary
        v = verdict_of(rows)
        d = _directions(computable(rows)) if len(rows) else pd.Series(dtype=str)
        evidence = evidence_of(rows, v)
        if kind == "premise":
            evidence += _paper_protocol(claims, claim) or "; premise used to choose the protocol"
        sets = sorted(set(rows.noise_set.dropna())) if len(rows) else [context.get("noise", "")]
        protocols = sorted(set(rows.protocol.dropna())) if len(rows) else []
        bn = rows.batchnorm.dropna().unique() if len(rows) else []
        out.append(
            {
                "claim": claim,
                "kind": kind,
                "figure": figure,
                "statement": statement,
                "verdict": v,
                "supports": int((d == "supports").sum()),
                "not_significant": int((d == "n.s.").sum()),
                "contradicts": int((d == "contradicts").sum()),
                "evidence": evidence,
                "rows": len(rows),
                "noise_set": ", ".join(s for s in sets if s),
                "protocol": ", ".join(p for p in protocols if p),
                "batchnorm": bool(bn[0]) if len(bn) == 1 else "by depth" if len(bn) else context.get("batchnorm", pd.NA),
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def markdown(verdicts: pd.DataFrame, left_out: str = "") -> str:
    """The verdict table as Markdown (README, report): the paper's claims, then the checks and premises
    apart (they test the implementation or chose the protocol, not the paper); ``left_out``: the
    sentence counting the networks the tests left out (``claims.left_out``)."""
    kind = verdicts["kind"] if "kind" in verdicts else pd.Series("claim", index=verdicts.index)
    lines = []
    for title, part in (("The paper's claims", verdicts[kind == "claim"]),
                        ("Checks and premises (not tests of the paper)", verdicts[kind != "claim"])):  # fmt: skip
        if part.empty:
            continue
        lines += [f"**{title}**", "", "| claim | figure | the paper's statement | verdict | evidence |", "|---|---|---|---|---|"]
        for r in part.itertuples():
            evidence = r.evidence.replace("|", "\\|")  # a norm's bars would end the cell
            label = r.claim if getattr(r, "kind", "claim") == "claim" else f"{r.claim} ({r.kind})"
            lines.append(f"| {label} | {r.figure} | {r.statement} | **{r.verdict}** | {evidence} |")
        lines.append("")
    if len(verdicts):
        counts = verdicts[kind == "claim"].verdict.value_counts()
        tally = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
        first = verdicts.iloc[0]
        lines += [f"Claims: {tally}. Noise set {first.noise_set or '-'} ({first.protocol or '-'}), BatchNorm {first.batchnorm}."]
    if left_out:
        lines += ["", left_out]
    return "\n".join(lines) + "\n"
