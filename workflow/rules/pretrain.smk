# Noise pretraining: FA on random inputs with random labels aligns W to B.


rule pretrain:
    input:
        noise=paths.NOISE,
        code=lib("noisefa.stages.pretrain"),
        family=family_code,
    output:
        checkpoint=paths.PRETRAIN_CHECKPOINT,
        metrics=paths.PRETRAIN_METRICS,
        details=paths.PRETRAIN_DETAILS,
        trajectory=paths.PRETRAIN_TRAJECTORY,
    params:
        spec=pretrain_spec,
    threads: config["threads"]
    resources:
        mem_mb=mem_mb("pretrain"),
        runtime=runtime("pretrain"),
    log:
        paths.log("pretrain", "{noise}/in{dim}_c{classes}/{arch}/depth{depth}/seeds{seeds}"),
    benchmark:
        paths.job_benchmark("pretrain")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.pretrain --spec {params.spec:q} --noise {input.noise} "
        "--checkpoint {output.checkpoint} --metrics {output.metrics} --details {output.details} "
        "--trajectory {output.trajectory} > {log} 2>&1"


rule data_then_noise:
    """Order control (Fig. 2f,g): noise training of networks already trained on data (FA w/o)."""
    input:
        init=lambda wc: PLAN.source(cell_job(wc)).file(paths.TRAIN_CHECKPOINT),
        noise=data_then_noise_input,
        code=lib("noisefa.stages.pretrain"),
        family=family_code,
    output:
        checkpoint=paths.DATA_NOISE_CHECKPOINT,
        metrics=paths.DATA_NOISE_METRICS,
        details=paths.DATA_NOISE_DETAILS,
        trajectory=paths.DATA_NOISE_TRAJECTORY,
    params:
        spec=lambda wc: pretrain_spec(
            wc,
            {"experiment": wc.experiment, "dataset": wc.dataset, "condition": wc.condition, "phase": "noise_after"},
        ),
    threads: config["threads"]
    resources:
        mem_mb=mem_mb("data_then_noise"),
        runtime=runtime("data_then_noise"),
    log:
        paths.log("data_then_noise", "{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}"),
    benchmark:
        paths.benchmark("data_then_noise", "{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.pretrain --spec {params.spec:q} --noise {input.noise} --init {input.init} "
        "--checkpoint {output.checkpoint} --metrics {output.metrics} --details {output.details} "
        "--trajectory {output.trajectory} > {log} 2>&1"
