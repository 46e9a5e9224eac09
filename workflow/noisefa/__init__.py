"""noisefa: random-noise pretraining for feedback alignment (Cheon, Lee & Paik, NeurIPS 2024).

Subpackages by concern, each importing only those above it:
  (top)     errors, files, cli, seeds, precision, runtime, sources: the plumbing every part uses
  data      datasets, downloads, noise sets, out-of-distribution sets
  nets      model families, learning rules, optimisers, the engine, controls' starts, metrics
  pipeline  config, conditions, experiments, the plan and its paths, resource estimates
  analysis  tidy tables, summaries, statistics, claims, verdict, mechanism, studies, compare
  figures, stages, tools: what the Snakemake rules and a user run (``python -m noisefa.<...>``)

The registries that the pipeline, the analysis and the figures read (the learning rules, the OOD
transforms) import no torch; their torch code is a module beside each (``nets.feedback``,
``data.ood``). A job that reads tables and draws starts without torch (tests/test_layout.py).
"""
