# Data training: one job per experiment x dataset x depth x condition x seed group, seeds stacked in one model.


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=paths.TRAIN_CHECKPOINT,
        metrics=paths.TRAIN_METRICS,
        details=paths.TRAIN_DETAILS,
        trajectory=paths.TRAIN_TRAJECTORY,
    params:
        spec=train_spec,
        pretrained=lambda wc, input: f"--pretrained {input.pretrained}" if "pretrained" in input.keys() else "",
    threads: config["threads"]
    resources:
        mem_mb=mem_mb("train"),
        runtime=runtime("train"),
    log:
        paths.log("train", "{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}"),
    benchmark:
        paths.job_benchmark("train")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.train --spec {params.spec:q} --data {input.data} {params.pretrained} "
        "--checkpoint {output.checkpoint} --metrics {output.metrics} --details {output.details} "
        "--trajectory {output.trajectory} > {log} 2>&1"
