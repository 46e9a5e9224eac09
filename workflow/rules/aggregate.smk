# Aggregation: every job's tidy tables into results/tables/ (+ CSV twin) and a per-network summary.


localrules:
    aggregate,
    claims,
    cnn_tables,
    mechanism,
    protocols,
    table1,


rule aggregate:
    input:
        train=PLAN.cell_files(PLAN.train(), paths.TRAIN_METRICS),
        pretrain=files(PLAN.pretrain(), paths.PRETRAIN_METRICS),
        order=files(PLAN.data_then_noise(), paths.DATA_NOISE_METRICS),
        details=PLAN.cell_files(PLAN.train(), paths.TRAIN_DETAILS)
        + files(PLAN.pretrain(), paths.PRETRAIN_DETAILS)
        + files(PLAN.data_then_noise(), paths.DATA_NOISE_DETAILS),
        ood=PLAN.cell_files(PLAN.ood(), paths.OOD),
        meta=files(PLAN.meta(), paths.META),
        code=lib("noisefa.stages.aggregate"),
    output:
        parquet=paths.METRICS,
        csv=paths.METRICS_CSV,
        summary=paths.SUMMARY,
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        ood=paths.OOD_TABLE,
        meta=paths.META_TABLE,
    params:
        pretrain=json.dumps(pretrain_users(), sort_keys=True),
        labels=json.dumps(cell_labels(), sort_keys=True),
        convergence=json.dumps(config["convergence"], sort_keys=True),
        experiments=json.dumps(experiment_columns(config), sort_keys=True),
    log:
        paths.log("aggregate"),
    benchmark:
        paths.benchmark("aggregate")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.aggregate --train {input.train} --pretrain {params.pretrain:q} "
        "--pretrain-all {input.pretrain} --extra {input.order} --labels {params.labels:q} --details {input.details} "
        "--ood {input.ood} --meta {input.meta} --convergence {params.convergence:q} "
        "--experiments {params.experiments:q} "
        "--parquet {output.parquet} --csv {output.csv} --summary {output.summary} "
        "--pretrain-table {output.pretrain} --details-table {output.details} "
        "--ood-table {output.ood} --meta-table {output.meta} > {log} 2>&1"


rule claims:
    """The paper's claims with their statistics; `holds` is computed, never typed in."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        ood=paths.OOD_TABLE,
        meta=paths.META_TABLE,
        code=lib("noisefa.stages.claims"),
    output:
        claims=report(paths.CLAIMS, caption="../report/claims.rst", category="Claims"),
        verdict=report(paths.VERDICT.format(ext="csv"), caption="../report/verdict.rst", category="Claims"),
        verdict_md=paths.VERDICT.format(ext="md"),
    params:
        context=lambda wc: json.dumps(claims_context(), sort_keys=True),
    log:
        paths.log("claims"),
    benchmark:
        paths.benchmark("claims")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.claims --metrics {input.metrics} --summary {input.summary} "
        "--pretrain {input.pretrain} --details {input.details} --ood {input.ood} --meta {input.meta} "
        "--context {params.context:q} "
        "--out {output.claims} --verdict-csv {output.verdict} --verdict-md {output.verdict_md} > {log} 2>&1"


rule mechanism:
    """Which control reproduces each downstream effect of noise pretraining (noisefa.analysis.mechanism)."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        ood=paths.OOD_TABLE,
        meta=paths.META_TABLE,
        code=lib("noisefa.stages.mechanism"),
    output:
        table=report(paths.MECHANISM, caption="../report/mechanism_table.rst", category="Beyond the paper"),
        dose=paths.DOSE_RESPONSE,
        md=paths.MECHANISM_MD,
    params:
        context=lambda wc: json.dumps(mechanism_context(), sort_keys=True),
    log:
        paths.log("mechanism"),
    benchmark:
        paths.benchmark("mechanism")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.mechanism --metrics {input.metrics} --summary {input.summary} --ood {input.ood} "
        "--meta {input.meta} --context {params.context:q} --out {output.table} --dose {output.dose} "
        "--md {output.md} > {log} 2>&1"


rule table1:
    """Table 1: converged test accuracy, mean +- std over the first `table1.trials` networks, at one depth."""
    input:
        summary=paths.SUMMARY,
        code=lib("noisefa.stages.table1"),
    output:
        csv=report(paths.TABLE1.format(ext="csv"), caption="../report/table1.rst", category="Table 1"),
        md=paths.TABLE1.format(ext="md"),
        tex=paths.TABLE1.format(ext="tex"),
    params:
        spec=lambda wc: json.dumps({"experiment": config["experiment"], **config["table1"]}, sort_keys=True),
    log:
        paths.log("table1"),
    benchmark:
        paths.benchmark("table1")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.table1 --spec {params.spec:q} --summary {input.summary} "
        "--csv {output.csv} --md {output.md} --tex {output.tex} > {log} 2>&1"


rule protocols:
    """The protocol study: the pretraining-dependent claims under every noise protocol and BatchNorm setting."""
    input:
        files=study_inputs(PLAN.protocol_entries()),
        code=lib("noisefa.stages.protocols"),
    output:
        report(paths.PROTOCOLS_TABLE, caption="../report/protocols_table.rst", category="Claims"),
    params:
        spec=protocols_spec(),
    log:
        paths.log("protocols"),
    benchmark:
        paths.benchmark("protocols")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.protocols --spec {params.spec:q} --out {output} > {log} 2>&1"


rule cnn_tables:
    """The CNN experiment judged by the same claims, verdict rule and controls (noisefa.analysis.family_study)."""
    input:
        files=study_inputs([PLAN.cnn_entry()]),
        code=lib("noisefa.stages.family_study"),
    output:
        claims=report(paths.CNN_CLAIMS, caption="../report/cnn_claims.rst", category="CNN"),
        verdict=paths.CNN_VERDICT,
        mechanism=paths.CNN_MECHANISM,
        md=paths.CNN_MD,
        metrics=paths.CNN_METRICS,
        summary=paths.CNN_SUMMARY,
        details=paths.CNN_DETAILS,
    params:
        spec=cnn_spec(),
    log:
        paths.log("cnn_tables"),
    benchmark:
        paths.benchmark("cnn_tables")
    conda:
        ENV
    shell:
        "python -m noisefa.stages.family_study --spec {params.spec:q} --claims {output.claims} "
        "--verdict {output.verdict} --mechanism {output.mechanism} --md {output.md} "
        "--metrics {output.metrics} --summary {output.summary} --details {output.details} > {log} 2>&1"
