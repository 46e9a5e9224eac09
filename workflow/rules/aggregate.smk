# Aggregation: every job's tidy tables into results/tables/ (+ CSV twin) and a per-network summary.


localrules:
    aggregate,
    claims,


rule aggregate:
    input:
        train=train_outputs(paths.TRAIN_METRICS),
        pretrain=pretrain_files(paths.PRETRAIN_METRICS),
        order=data_noise_files(paths.DATA_NOISE_METRICS),
        details=train_outputs(paths.TRAIN_DETAILS)
        + pretrain_files(paths.PRETRAIN_DETAILS)
        + data_noise_files(paths.DATA_NOISE_DETAILS),
        code=lib("noisefa.stages.aggregate"),
    output:
        parquet=paths.METRICS,
        csv=paths.METRICS_CSV,
        summary=paths.SUMMARY,
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
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
        "--pretrain-all {input.pretrain} --extra {input.order} --details {input.details} "
        "--parquet {output.parquet} --csv {output.csv} --summary {output.summary} "
        "--pretrain-table {output.pretrain} --details-table {output.details} > {log} 2>&1"


rule claims:
    """The paper's claims with their statistics; `holds` is computed, never typed in."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        code=lib("noisefa.stages.claims"),
    output:
        report(paths.CLAIMS, caption="../report/claims.rst", category="Claims"),
    params:
        context=lambda wc: json.dumps(claims_context(), sort_keys=True),
    log:
        paths.log("claims"),
    benchmark:
        paths.benchmark("claims")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.claims --metrics {input.metrics} --summary {input.summary} "
        "--pretrain {input.pretrain} --details {input.details} --context {params.context:q} "
        "--out {output} > {log} 2>&1"
