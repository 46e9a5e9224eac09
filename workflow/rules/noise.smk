# Noise datasets: one file per (noise set, input shape), shared by every depth and dataset of that shape.


rule make_noise:
    input:
        code=lib("noisefa.stages.make_noise"),
        downloaded=ancient(paths.DOWNLOADED),
    output:
        paths.NOISE,
    params:
        spec=lambda wc: json.dumps(
            {"name": wc.noise, "noise": config["noise"]["sets"][wc.noise], "dim": int(wc.dim), "n_classes": int(wc.classes)},
            sort_keys=True,
        ),
    log:
        paths.log("make_noise", "{noise}/in{dim}_c{classes}"),
    benchmark:
        paths.benchmark("make_noise", "{noise}/in{dim}_c{classes}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.make_noise --spec {params.spec:q} --out {output} > {log} 2>&1"
