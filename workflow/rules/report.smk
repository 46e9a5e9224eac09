# Report notebooks: executed with papermill (the executed notebook is an output), then exported to HTML.


localrules:
    notebook,
    notebook_html,


rule notebook:
    input:
        notebook=lambda wc: notebook_file(wc.report),
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        claims=paths.CLAIMS,
        verdict=paths.VERDICT.format(ext="md"),
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        ood=paths.OOD_TABLE,
        meta=paths.META_TABLE,
        table1=paths.TABLE1.format(ext="md"),
        figures=lambda wc: [figure_file(f) for f in REPORTS[wc.report]],
        protocols=lambda wc: [paths.PROTOCOLS_TABLE] if wc.report == "protocols" else [],
        mechanism=lambda wc: [paths.MECHANISM_MD] if wc.report == "main" and config["controls"]["enabled"] else [],
        cnn=lambda wc: [paths.CNN_MD, paths.CNN_SUMMARY, paths.CNN_CLAIMS]
        if wc.report in ("cnn", "main") and config["cnn"]["enabled"]
        else [],
        code=lib("noisefa.analysis.summary"),
    output:
        paths.NOTEBOOK,
    params:
        config=lambda wc: json.dumps(config, sort_keys=True),
        figures=lambda wc: json.dumps([figure_file(f) for f in REPORTS[wc.report]]),
        protocols=lambda wc, input: input.protocols[0] if input.protocols else "none",  # :q drops an empty string
        mechanism=lambda wc, input: input.mechanism[0] if input.mechanism else "none",
        cnn=lambda wc, input: (
            f"-p cnn_md_path {input.cnn[0]} -p cnn_summary_path {input.cnn[1]} -p cnn_claims_path {input.cnn[2]}"
            if input.cnn
            else ""
        ),
    log:
        paths.log("notebook", "{report}"),
    benchmark:
        paths.benchmark("notebook", "{report}")
    conda:
        REPORT_ENV
    shell:
        "papermill {input.notebook} {output} -k python3 --cwd . "
        "-p metrics_path {input.metrics} -p summary_path {input.summary} -p claims_path {input.claims} "
        "-p verdict_md_path {input.verdict} "
        "-p pretrain_path {input.pretrain} -p details_path {input.details} "
        "-p ood_path {input.ood} -p meta_path {input.meta} -p table1_md_path {input.table1} "
        "-p figure_paths_json {params.figures:q} -p config_json {params.config:q} "
        "-p protocols_path {params.protocols:q} -p mechanism_md_path {params.mechanism:q} {params.cnn} "
        "> {log} 2>&1"


rule notebook_html:
    input:
        paths.NOTEBOOK,
    output:
        report(paths.NOTEBOOK_HTML, caption="../report/notebook.rst", category="Reports"),
    log:
        paths.log("notebook_html", "{report}"),
    benchmark:
        paths.benchmark("notebook_html", "{report}")
    conda:
        REPORT_ENV
    shell:
        # Code cells hidden: a reader sees results first (the executed .ipynb keeps the code).
        "jupyter nbconvert --to html --no-input --output-dir $(dirname {output}) {input} > {log} 2>&1"
