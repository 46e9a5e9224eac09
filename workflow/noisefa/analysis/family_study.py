"""A second model family judged by the paper's claims (issue 24): the ``cnn`` experiment.

The CNN's networks are their own study (``experiments.CNN``): this module builds its tables from its
own jobs' files only (``Plan.cnn_entry``: training and the pretraining its FA w/ networks start
from), so no MLP row is ever mixed in, and runs on them the same claim functions as the MLP's table
(``claims.claims_table``), the same verdict rule (``verdict.verdict_of``) and the same mechanism
table (``mechanism.mechanism_table``: the controls trained in the same experiment). Every row carries
the family, so the CNN's verdict reads as its own rows beside the MLP's.

The statements its cells compute (``STATEMENTS``): C1-C3 and C10a-C11 from its pretraining; C5s, C6,
C7a, C7b, C9 and C13 from its data training; B1-B3 from the other rules trained beside FA w/
(sign-symmetry, Kolen-Pollack, the weight mirror: Akrout et al.'s ordering). Figure 1's sweep (C4),
Figure 2's cell and order control (C5, C8), the size sweep (C12), the OOD tests (C14, C15) and the
meta-loss (C16) are MLP experiments; the CNN does not repeat them.
"""

from __future__ import annotations

import pandas as pd

from .claims import COLUMNS as CLAIM_COLUMNS
from .claims import Tables, claims_table, study_tables
from .mechanism import Tables as MechanismTables
from .mechanism import markdown as mechanism_markdown
from .mechanism import mechanism_table
from .verdict import COLUMNS as VERDICT_COLUMNS
from .verdict import markdown as verdict_markdown
from .verdict import verdict_table

STATEMENTS = ("C1", "C2", "C3", "C5s", "C6", "C7a", "C7b", "C9", "C10a", "C10b", "C11", "C13", "B1", "B2", "B3")
CLAIM_TABLE_COLUMNS = ["family", *CLAIM_COLUMNS]
VERDICT_TABLE_COLUMNS = ["family", *VERDICT_COLUMNS]


def tables_for(entry: dict, convergence: dict, context: dict) -> Tables:
    """The family experiment's tables from its jobs' files (``entry``: ``Plan.cnn_entry``), with the
    claims' context (``context_of``)."""
    return study_tables(entry, convergence, context_of(entry, context))


def context_of(entry: dict, context: dict) -> dict:
    """The claims' context for the family experiment: its own experiment is the main sweep, the
    rules comparison and the controls' experiment; its noise set and BatchNorm setting are its own."""
    exp = entry["experiment"]
    return {**context, "experiment": exp, "rules_experiment": exp, "controls_experiment": exp, "noise": entry["noise"],
            "batchnorm": bool(entry.get("batchnorm", False)), "dose_experiments": {}}  # fmt: skip


def family_claims(tables: Tables, family: str) -> pd.DataFrame:
    """The family's claim rows (``CLAIM_TABLE_COLUMNS``): every claim function on its tables."""
    rows = claims_table(tables)
    return rows.assign(family=family)[CLAIM_TABLE_COLUMNS]


def family_verdicts(claims: pd.DataFrame, context: dict, family: str) -> pd.DataFrame:
    """One verdict per statement the family's cells compute (``STATEMENTS``), by the verdict rule."""
    v = verdict_table(claims.drop(columns="family"), context)
    return v[v.claim.isin(STATEMENTS)].assign(family=family)[VERDICT_TABLE_COLUMNS].reset_index(drop=True)


def family_mechanism(tables: Tables) -> pd.DataFrame:
    """The mechanism table of the family experiment (its controls against its FA w/o and FA w/)."""
    return mechanism_table(MechanismTables(tables.summary, tables.metrics, tables.ood, tables.meta, tables.context))


def markdown(verdicts: pd.DataFrame, mechanism: pd.DataFrame, alpha: float) -> str:
    """The family's verdict lines, then its mechanism lines (report, README)."""
    family = verdicts.family.iloc[0] if len(verdicts) else ""
    text = f"**Model family: {family}**\n\n" + verdict_markdown(verdicts.drop(columns="family"))
    return text + "\n" + mechanism_markdown(mechanism, pd.DataFrame(), alpha)
