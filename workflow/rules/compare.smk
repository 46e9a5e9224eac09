# `snakemake compare --configfile C`: this run against its config's reference results (noisefa/analysis/compare.py
# states what is compared and each tolerance). compare_table writes every difference; compare fails
# on any, after the table is on disk. protocols.csv, mechanism.csv and the CNN's tables are compared
# when both the run and the reference have them (older references have none).


localrules:
    compare_table,
    compare,


rule compare_table:
    input:
        reference=reference_tables,
        run=[paths.VERDICT.format(ext="csv"), paths.CLAIMS, paths.TABLE1.format(ext="csv"), paths.SUMMARY]
        + ([paths.PROTOCOLS_TABLE] if config["protocols"]["enabled"] else [])
        + ([paths.MECHANISM] if config["controls"]["enabled"] else [])
        + ([paths.CNN_CLAIMS, paths.CNN_VERDICT, paths.CNN_MECHANISM, paths.CNN_SUMMARY] if config["cnn"]["enabled"] else []),
        code=lib("noisefa.stages.compare"),
    output:
        paths.COMPARE,
    params:
        reference=lambda wc, input: str(Path(input.reference[0]).parent),
        run=lambda wc, input: str(Path(input.run[0]).parent),
        claims=json.dumps(config["claims"], sort_keys=True),
    log:
        paths.log("compare_table"),
    benchmark:
        paths.benchmark("compare_table")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.compare table --reference {params.reference:q} --tables {params.run:q} "
        "--claims {params.claims:q} --out {output} > {log} 2>&1"


rule compare:
    """Fails, naming each difference, when a verdict differs or a number left its tolerance."""
    input:
        paths.COMPARE,
    log:
        paths.log("compare"),
    conda:
        ENV
    shell:
        "python -m noisefa.stages.compare check --out {input} > {log} 2>&1 || (cat {log} >&2; exit 1); cat {log}"
