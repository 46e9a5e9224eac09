# Data training: one job per dataset x depth x condition, all seeds stacked in one model.


def train_inputs(wc):
    inputs = {"data": paths.DATA.format(dataset=wc.dataset), "code": lib("noisefa.stages.train")}
    if get_condition(wc.condition).pretrained:
        inputs["pretrained"] = pretrain_paths(wc.dataset, wc.depth, paths.PRETRAIN_CHECKPOINT)
    return inputs


def train_spec(wc):
    pretrained = get_condition(wc.condition).pretrained
    return job_spec(
        dataset=wc.dataset, depth=int(wc.depth), condition=wc.condition,
        noise=config["noise"]["use"] if pretrained else "", train=train_config(config, wc.dataset),
    )


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=paths.TRAIN_CHECKPOINT,
        metrics=paths.TRAIN_METRICS,
    params:
        spec=train_spec,
        pretrained=lambda wc, input: f"--pretrained {input.pretrained}" if "pretrained" in input.keys() else "",
    threads: config["threads"]
    log:
        paths.log("train", "{experiment}/{dataset}/depth{depth}/{condition}"),
    benchmark:
        paths.benchmark("train", "{experiment}/{dataset}/depth{depth}/{condition}")
    conda:
        ENV
    shell:
        "{PY} noisefa.stages.train --spec {params.spec:q} --data {input.data} {params.pretrained} "
        "--checkpoint {output.checkpoint} --metrics {output.metrics} > {log} 2>&1"
