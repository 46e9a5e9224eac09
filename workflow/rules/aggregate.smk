# Aggregation: every job's tidy metrics into one long table (+ CSV twin) and a per-network summary.


localrules:
    aggregate,


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
