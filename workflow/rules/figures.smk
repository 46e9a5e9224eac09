# Figures: one rule per figure, each a module of noisefa.figures (editing one redraws only it).


localrules:
    figure_learning_curves,
    figure_alignment,


rule figure_learning_curves:
    input:
        metrics=paths.METRICS,
        code=lib("noisefa.figures.learning_curves"),
    output:
        report(
            paths.FIGURE.format(figure="learning_curves"),
            caption="../report/learning_curves.rst",
            category="Learning curves",
        ),
    params:
        title=lambda wc: f"Test accuracy, noise set {config['noise']['use']}; {data_note()}",
    log:
        paths.log("figure_learning_curves"),
    benchmark:
        paths.benchmark("figure_learning_curves")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.learning_curves --metrics {input.metrics} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure_alignment:
    input:
        metrics=paths.METRICS,
        code=lib("noisefa.figures.alignment"),
    output:
        report(
            paths.FIGURE.format(figure="alignment"),
            caption="../report/alignment.rst",
            category="Alignment",
        ),
    params:
        title=lambda wc: f"Last-layer W-B angle, noise set {config['noise']['use']} "
        f"({config['noise']['sets'][config['noise']['use']]['protocol']} protocol)",
    log:
        paths.log("figure_alignment"),
    benchmark:
        paths.benchmark("figure_alignment")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.alignment --metrics {input.metrics} --out {output} --title {params.title:q} > {log} 2>&1"
