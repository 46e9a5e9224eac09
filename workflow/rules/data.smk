# Datasets: fetch raw files once (login node), then one prepared .pt file per dataset.


localrules:
    fetch_dataset,


rule fetch_dataset:
    """Download (or copy from data.local_dir / Debian's package) a torchvision dataset into resources/."""
    input:
        code=lib("noisefa.stages.prepare_data"),
    output:
        paths.FETCHED,
    params:
        root=paths.TORCHVISION_ROOT,
        local=lambda wc: f"--local-dir {shlex.quote(config['data']['local_dir'])}" if config["data"]["local_dir"] else "",
    log:
        paths.log("fetch_dataset", "{dataset}"),
    benchmark:
        paths.benchmark("fetch_dataset", "{dataset}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.prepare_data fetch --dataset {wildcards.dataset} --root {params.root} "
        "{params.local} --out {output} > {log} 2>&1"


rule prepare_dataset:
    """Images as uint8 plus per-channel mean/std; labels checked against the class count."""
    input:
        code=lib("noisefa.stages.prepare_data"),
        fetched=lambda wc: [paths.FETCHED.format(dataset=wc.dataset)] if needs_fetch(wc.dataset) else [],
    output:
        paths.DATA,
    params:
        root=paths.TORCHVISION_ROOT,
        local=lambda wc: f"--local-dir {shlex.quote(config['data']['local_dir'])}" if config["data"]["local_dir"] else "",
    log:
        paths.log("prepare_dataset", "{dataset}"),
    benchmark:
        paths.benchmark("prepare_dataset", "{dataset}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.prepare_data prepare --dataset {wildcards.dataset} --root {params.root} "
        "{params.local} --out {output} > {log} 2>&1"
