"""What a config asks for: its validation, the conditions and experiments, the plan of every job
with its file paths, and the scheduler's resource estimates. Reads ``data`` and ``nets``; the
Snakemake rules and the stages read it."""
