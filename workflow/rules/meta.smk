# Figure 6: the meta-loss (adaptation to several tasks) at snapshots during noise training.


rule meta:
    input:
        noise=paths.NOISE,
        tasks=lambda wc: [paths.DATA.format(dataset=t) for t in config["meta"]["tasks"]],
        code=lib("noisefa.stages.meta"),
        family=family_code,
    output:
        metrics=paths.META,
        trajectory=paths.META_TRAJECTORY,
    params:
        spec=lambda wc: pretrain_spec(wc, {"meta": config["meta"], **meta_controls_of(wc)}),
        tasks=lambda wc, input: json.dumps(dict(zip(config["meta"]["tasks"], input.tasks))),
    threads: config["threads"]
    resources:
        mem_mb=mem_mb("meta"),
        runtime=runtime("meta"),
    log:
        paths.log("meta", "{noise}/in{dim}_c{classes}/{arch}/depth{depth}/seeds{seeds}"),
    benchmark:
        paths.benchmark("meta", "{noise}/in{dim}_c{classes}/{arch}/depth{depth}/seeds{seeds}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.meta --spec {params.spec:q} --noise {input.noise} --tasks {params.tasks:q} "
        "--out {output.metrics} --trajectory {output.trajectory} > {log} 2>&1"
