# Figures: one rule per figure, each a module of noisefa.figures (editing one redraws only it).
# Every figure rule passes the tables it reads and a JSON context of the config values it shows.


localrules:
    figure_learning_curves,
    figure_alignment,
    figure1,
    figure2,
    figure4,
    figure3,
    figure5,
    figure6,
    figure_rules,
    figure_protocols,


rule figure_learning_curves:
    input:
        metrics=paths.METRICS,
        code=lib("noisefa.figures.learning_curves"),
    output:
        report(figure_file("learning_curves"), caption="../report/learning_curves.rst", category="Learning curves"),
    params:
        title=lambda wc: f"Test accuracy, {noise_title()}; {data_note()}",
        context=json.dumps({"experiment": config["experiment"]}),
    log:
        paths.log("figure_learning_curves"),
    benchmark:
        paths.benchmark("figure_learning_curves")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.learning_curves --metrics {input.metrics} --context {params.context:q} "
        "--out {output} --title {params.title:q} > {log} 2>&1"


rule figure_alignment:
    input:
        metrics=paths.METRICS,
        code=lib("noisefa.figures.alignment"),
    output:
        report(figure_file("alignment"), caption="../report/alignment.rst", category="Alignment"),
    params:
        title=lambda wc: f"Last-layer W-B angle, {noise_title()}",
        context=json.dumps({"experiment": config["experiment"]}),
    log:
        paths.log("figure_alignment"),
    benchmark:
        paths.benchmark("figure_alignment")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.alignment --metrics {input.metrics} --context {params.context:q} "
        "--out {output} --title {params.title:q} > {log} 2>&1"


rule figure1:
    """Figure 1: noise training aligns W to B, under several input conditions and set sizes."""
    input:
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        code=lib("noisefa.figures.figure1"),
    output:
        report(figure_file("figure1"), caption="../report/figure1.rst", category="Figure 1"),
    params:
        context=lambda wc: json.dumps(figure1_context(), sort_keys=True),
        title=lambda wc: "Figure 1: noise training, input shape of {d}, depth {k}; angles of the last layer".format(
            d=config["figure1"]["dataset"], k=config["figure1"]["depth"]
        ),
    log:
        paths.log("figure1"),
    benchmark:
        paths.benchmark("figure1")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure1 --pretrain {input.pretrain} --details {input.details} "
        "--context {params.context:q} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure2:
    """Figure 2: fast learning after noise, alignment through both phases, PCA, order controls."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        trajectories=lambda wc: list(figure2_trajectories().values()),
        code=lib("noisefa.figures.figure2"),
    output:
        report(figure_file("figure2"), caption="../report/figure2.rst", category="Figure 2"),
    params:
        context=lambda wc: json.dumps(figure2_context(), sort_keys=True),
        trajectories=lambda wc: json.dumps(figure2_trajectories(), sort_keys=True),
        title=lambda wc: "Figure 2: {ds} ({desc}), depth {k}, {noise}".format(
            ds=config["figure2"]["dataset"],
            desc=get_spec(config["figure2"]["dataset"]).description,
            k=config["figure2"]["depth"],
            noise=noise_title(),
        ),
    log:
        paths.log("figure2"),
    benchmark:
        paths.benchmark("figure2")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure2 --metrics {input.metrics} --summary {input.summary} "
        "--trajectories {params.trajectories:q} --context {params.context:q} --out {output} "
        "--title {params.title:q} > {log} 2>&1"


rule figure4:
    """Figure 4: readout at chance, spectra and erank, generalisation gap, Gram dimensionality."""
    input:
        metrics=paths.METRICS,
        pretrain=paths.PRETRAIN_TABLE,
        details=paths.DETAILS,
        code=lib("noisefa.figures.figure4"),
    output:
        report(figure_file("figure4"), caption="../report/figure4.rst", category="Figure 4"),
    params:
        context=lambda wc: json.dumps(figure4_context(), sort_keys=True),
        title=lambda wc: f"Figure 4: {noise_title()}; {data_note()}",
    log:
        paths.log("figure4"),
    benchmark:
        paths.benchmark("figure4")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure4 --metrics {input.metrics} --pretrain {input.pretrain} "
        "--details {input.details} --context {params.context:q} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure3:
    """Figure 3: converged test accuracy of the three conditions per dataset and depth."""
    input:
        summary=paths.SUMMARY,
        code=lib("noisefa.figures.figure3"),
    output:
        report(figure_file("figure3"), caption="../report/figure3.rst", category="Figure 3"),
    params:
        context=lambda wc: json.dumps(figure3_context(), sort_keys=True),
        title=lambda wc: f"Figure 3: converged test accuracy, {noise_title()}; {data_note()}",
    log:
        paths.log("figure3"),
    benchmark:
        paths.benchmark("figure3")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure3 --summary {input.summary} --context {params.context:q} "
        "--out {output} --title {params.title:q} > {log} 2>&1"


rule figure5:
    """Figure 5: accuracy on transformed test images and on another dataset (out of distribution)."""
    input:
        ood=paths.OOD_TABLE,
        code=lib("noisefa.figures.figure5"),
    output:
        report(figure_file("figure5"), caption="../report/figure5.rst", category="Figure 5"),
    params:
        context=lambda wc: json.dumps(figure5_context(), sort_keys=True),
        title=lambda wc: "Figure 5: networks trained on {d} ({desc}), tested out of distribution; {n}".format(
            d=config["ood"]["dataset"], desc=get_spec(config["ood"]["dataset"]).description, n=noise_title()
        ),
    log:
        paths.log("figure5"),
    benchmark:
        paths.benchmark("figure5")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure5 --ood {input.ood} --context {params.context:q} "
        "--out {output} --title {params.title:q} > {log} 2>&1"


rule figure6:
    """Figure 6: meta-loss during noise training, adaptation curves, last-layer PCA during adaptation."""
    input:
        meta=paths.META_TABLE,
        trajectories=lambda wc: meta_files(paths.META_TRAJECTORY)[:1],
        code=lib("noisefa.figures.figure6"),
    output:
        report(figure_file("figure6"), caption="../report/figure6.rst", category="Figure 6"),
    params:
        context=lambda wc: json.dumps(figure6_context(), sort_keys=True),
        trajectories=lambda wc: json.dumps({"meta": meta_files(paths.META_TRAJECTORY)[0]}),
        title=lambda wc: "Figure 6: meta-loss on {t}; {n}".format(t=", ".join(config["meta"]["tasks"]), n=noise_title()),
    log:
        paths.log("figure6"),
    benchmark:
        paths.benchmark("figure6")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.figure6 --meta {input.meta} --trajectories {params.trajectories:q} "
        "--context {params.context:q} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure_rules:
    """Beyond the paper: noise-pretrained FA against SS, DFA, KP and WM (speed, accuracy, alignment, calibration)."""
    input:
        metrics=paths.METRICS,
        summary=paths.SUMMARY,
        details=paths.DETAILS,
        code=lib("noisefa.figures.rules"),
    output:
        report(figure_file("rules"), caption="../report/rules.rst", category="Beyond the paper"),
    params:
        context=lambda wc: json.dumps(rules_context(), sort_keys=True),
        title=lambda wc: f"Learning rules without weight transport vs noise-pretrained FA; {noise_title()}",
    log:
        paths.log("figure_rules"),
    benchmark:
        paths.benchmark("figure_rules")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.rules --metrics {input.metrics} --summary {input.summary} "
        "--details {input.details} --context {params.context:q} --out {output} --title {params.title:q} > {log} 2>&1"


rule figure_protocols:
    """The protocol study: sign and significance of every primary test under every protocol."""
    input:
        protocols=paths.PROTOCOLS_TABLE,
        code=lib("noisefa.figures.protocols"),
    output:
        report(figure_file("protocols"), caption="../report/protocols.rst", category="Beyond the paper"),
    params:
        context=lambda wc: json.dumps(protocols_context(), sort_keys=True),
        title=lambda wc: f"Claims under every noise protocol, with and without BatchNorm; {protocols_note()}",
    log:
        paths.log("figure_protocols"),
    benchmark:
        paths.benchmark("figure_protocols")
    conda:
        REPORT_ENV
    shell:
        "python -m noisefa.figures.protocols --protocols {input.protocols} --context {params.context:q} "
        "--out {output} --title {params.title:q} > {log} 2>&1"
