"""One module per Snakemake rule that computes: ``python -m noisefa.stages.<name> --spec ...``,
thin argument parsing and file IO around the library."""
