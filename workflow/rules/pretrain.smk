# Noise pretraining: FA on random inputs with random labels aligns W to B.


rule pretrain:
    input:
        noise=paths.NOISE,
        code=lib("noisefa.stages.pretrain"),
    output:
        checkpoint=paths.PRETRAIN_CHECKPOINT,
        metrics=paths.PRETRAIN_METRICS,
    params:
        spec=lambda wc: job_spec(wc.seeds, depth=int(wc.depth), pretrain=config["pretrain"]),
    threads: config["threads"]
    resources:
        mem_mb=pretrain_mem_mb,
        runtime=pretrain_runtime,
    log:
        paths.log("pretrain", "{noise}/in{dim}_c{classes}/depth{depth}/seeds{seeds}"),
    benchmark:
        paths.benchmark("pretrain", "{noise}/in{dim}_c{classes}/depth{depth}/seeds{seeds}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.pretrain --spec {params.spec:q} --noise {input.noise} "
        "--checkpoint {output.checkpoint} --metrics {output.metrics} > {log} 2>&1"
