# Figure 5: the main sweep's networks tested on transformed test images and on other datasets.


rule ood:
    input:
        unpack(ood_inputs),
        code=lib("noisefa.stages.ood"),
        family=family_code,
    output:
        paths.OOD,
    params:
        spec=ood_spec,
        external=lambda wc, input: json.dumps(dict(zip(ood_external(config, wc.dataset), input.external))),
    threads: config["threads"]
    resources:
        mem_mb=mem_mb("ood"),
        runtime=runtime("ood"),
    log:
        paths.log("ood", "{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}"),
    benchmark:
        paths.benchmark("ood", "{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.ood --spec {params.spec:q} --data {input.data} --external {params.external:q} "
        "--checkpoint {input.checkpoint} --out {output} > {log} 2>&1"
