"""Command-line tools outside the DAG: the engine and CNN benchmarks (``python -m
noisefa.tools.bench``, ``noisefa.tools.bench_cnn``) and the protocol-rule noise study
(``noisefa.tools.deep_noise_study``)."""
