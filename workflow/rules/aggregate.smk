# Aggregation: every job's tidy metrics into one long table (+ CSV twin) and a per-network summary.


localrules:
    aggregate,
    claims,


rule aggregate:
    input:
        train=train_metrics(),
        pretrain=list(pretrain_metrics_map()),
        code=lib("noisefa.stages.aggregate"),
    output:
        parquet=paths.METRICS,
        csv=paths.METRICS_CSV,
        summary=paths.SUMMARY,
    params:
        pretrain=json.dumps(pretrain_metrics_map(), sort_keys=True),
    log:
        paths.log("aggregate"),
    benchmark:
        paths.benchmark("aggregate")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.aggregate --train {input.train} --pretrain {params.pretrain:q} "
        "--parquet {output.parquet} --csv {output.csv} --summary {output.summary} > {log} 2>&1"


rule claims:
    """The paper's claims with their statistics; `holds` is computed, never typed in."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        code=lib("noisefa.stages.claims"),
    output:
        report(paths.CLAIMS, caption="../report/claims.rst", category="Claims"),
    log:
        paths.log("claims"),
    benchmark:
        paths.benchmark("claims")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.claims --metrics {input.metrics} --summary {input.summary} --out {output} > {log} 2>&1"
