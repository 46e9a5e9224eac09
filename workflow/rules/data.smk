# Datasets: fetch raw files once (login node), then one prepared .pt file per dataset.
#
# Downloads come first and stop the run when they fail: every job that starts a branch of the DAG
# (prepare_dataset, make_noise) waits for `download`, which needs every fetch of the config, so a
# failed download leaves nothing to compute even with keep-going. Those jobs take the marker as
# ancient(): fetching again (a new dataset in the config, a refreshed file) never reruns them.


localrules:
    fetch_dataset,
    download,


rule download:
    """Every dataset the config reads, fetched: run `snakemake download` on a login node first."""
    input:
        [paths.FETCHED.format(dataset=d) for d in PLAN.datasets if needs_fetch(d)],
    output:
        paths.DOWNLOADED,
    log:
        paths.log("download", "all-datasets"),
    priority: 100
    conda:
        ENV
    shell:
        "printf '%s\\n' {input:q} > {output} 2> {log}"


rule fetch_dataset:
    """Download (or copy from data.local_dir / Debian's package) a torchvision dataset into resources/."""
    input:
        code=lib("noisefa.stages.fetch_data"),
    output:
        paths.FETCHED,
    params:
        root=paths.TORCHVISION_ROOT,
        args=fetch_args(),
    log:
        paths.log("fetch_dataset", "{dataset}"),
    benchmark:
        paths.benchmark("fetch_dataset", "{dataset}")
    # Before any compute job: a missing dataset is found in the first minute, not after hours.
    priority: 100
    conda:
        ENV
    shell:
        "python -m noisefa.stages.fetch_data --dataset {wildcards.dataset} --root {params.root} "
        "{params.args} --out {output} > {log} 2>&1"


rule prepare_dataset:
    """Images as uint8 plus per-channel mean/std; labels checked against the class count."""
    input:
        code=lib("noisefa.stages.prepare_data"),
        downloaded=ancient(paths.DOWNLOADED),
        # its own marker too: a stale one (removed above) makes exactly this dataset's fetch rerun
        fetched=lambda wc: [ancient(paths.FETCHED.format(dataset=wc.dataset))] if needs_fetch(wc.dataset) else [],
    output:
        paths.DATA,
    params:
        root=paths.TORCHVISION_ROOT,
        local=" ".join(local_dir_arg()),
    log:
        paths.log("prepare_dataset", "{dataset}"),
    benchmark:
        paths.benchmark("prepare_dataset", "{dataset}")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.prepare_data --dataset {wildcards.dataset} --root {params.root} "
        "{params.local} --out {output} > {log} 2>&1"
