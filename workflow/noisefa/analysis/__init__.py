"""What the results say: tidy tables and their columns, per-network summaries, statistics, the
claims, the verdict rule, the controls' mechanism table, the protocol and model-family studies, and
the comparison against reference results. Reads ``pipeline`` (the conditions), ``data`` and
``nets`` (metrics); never trains a network."""
