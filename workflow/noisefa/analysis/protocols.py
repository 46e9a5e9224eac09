"""The protocol study: the pretraining-dependent claims under every noise protocol and BatchNorm setting.

A *protocol* is a noise set (fresh noise every batch, or a fixed set of some size) with a
BatchNorm setting (``experiments.Protocol``). For each, this module builds the claims' tables
from that protocol's own jobs — the BP and FA w/o networks shared by every set of its BatchNorm
setting, the FA w/ networks pretrained on its set, and that pretraining — relabels their
experiment to one name (``LABEL``), and runs the same claim functions as the main table
(``claims.claims_table``): a claim reads the same here as in ``claims.csv``. Each protocol's
verdict per claim follows ``verdict.verdict_of``.

The claims a protocol's cells can compute: C1-C3 and C10a-C11 from its pretraining, C5-C7b, C9 and
C13 from its data training, C14 from OOD jobs on its networks (transformed test images of the
study's dataset) and C16 from a meta-loss job of its noise set and architecture. C4 (Figure 1's
sweep), C8 (the order control), C12 (the size sweep) and C15 (a second dataset of the study's
shape) need experiments of their own and are not repeated here.
"""

from __future__ import annotations

import pandas as pd

from .claims import COLUMNS as CLAIM_COLUMNS
from .claims import Tables, claims_table, protocol_label, study_tables
from .verdict import verdict_of

LABEL = "protocol"  # the experiment name every protocol's cells get in its own tables
CLAIMS = ("C1", "C2", "C3", "C5", "C5s", "C6", "C7a", "C7b", "C9", "C10a", "C10b", "C11", "C13", "C14", "C16")
COLUMNS = ["noise_set", "protocol", "batchnorm", "claim", "verdict", *[c for c in CLAIM_COLUMNS if c not in
           ("claim", "noise_set", "protocol", "batchnorm")]]  # fmt: skip


def tables_for(entry: dict, convergence: dict, context: dict) -> Tables:
    """One protocol's tables from its jobs' files (``entry``: ``Plan.protocol_entries``)."""
    ctx = {**context, "experiment": LABEL, "noise": entry["noise"], "batchnorm": entry["batchnorm"]}
    return study_tables(entry, convergence, ctx, label=LABEL)


def protocol_claims(entries: list[dict], convergence: dict, context: dict) -> pd.DataFrame:
    """Every protocol's claim rows (``COLUMNS``), with the protocol's verdict per claim."""
    out = []
    for entry in entries:
        rows = claims_table(tables_for(entry, convergence, context))
        rows = rows[rows.claim.isin(CLAIMS)].copy()
        # the same comparison under every protocol: the set's name leaves the label (it is a column)
        rows["comparison"] = rows.comparison.str.replace(f" ({entry['noise']})", "", regex=False)
        verdicts = {c: verdict_of(g[g.primary.astype(bool)]) for c, g in rows.groupby("claim")}
        rows["verdict"] = rows.claim.map(verdicts)
        rows["protocol"] = protocol_label(context.get("noise_specs", {}).get(entry["noise"]))
        rows["batchnorm"] = bool(entry["batchnorm"])
        out.append(rows)
    table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)
    return table[COLUMNS]


def verdict_grid(table: pd.DataFrame) -> pd.DataFrame:
    """Claim x protocol verdicts (columns "<set> (<protocol>), BN on/off"), for the report."""
    if table.empty:
        return pd.DataFrame()
    t = table.assign(column=[protocol_column(r.noise_set, r.protocol, r.batchnorm) for r in table.itertuples()])
    grid = t.drop_duplicates(["claim", "column"]).pivot(index="claim", columns="column", values="verdict")
    return grid.reindex([c for c in CLAIMS if c in grid.index])


def protocol_column(noise_set: str, protocol: str, batchnorm: bool) -> str:
    """A protocol's column label; the set's name is in it, so two sets of one protocol stay apart."""
    return f"{noise_set} ({protocol}), BN {'on' if batchnorm else 'off'}"


def changed_claims(table: pd.DataFrame) -> list[str]:
    """Claims whose verdict is not the same under every protocol of the grid."""
    grid = verdict_grid(table)
    return [c for c, row in grid.iterrows() if row.dropna().nunique() > 1]
