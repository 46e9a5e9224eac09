# Figures: one rule per entry of noisefa.figures.registry.FIGURES (editing one module redraws only
# its figure). Each rule passes the tables the figure reads, a JSON context of the config values it
# shows, its title and, for Figures 2 and 6, the trajectory files the planner names.


def figure_command(fig, input, output):
    """The figure's command line. Built by a params function, not in `shell:`: Snakemake evaluates
    a shell expression again when the job runs, after this loop has moved on to the last figure."""
    args = [f"--{t} {shlex.quote(str(input[t]))}" for t in fig.tables]
    if fig.trajectories:
        args.append(f"--trajectories {shlex.quote(json.dumps(trajectory_files(fig), sort_keys=True))}")
    context = shlex.quote(json.dumps(fig.context(config), sort_keys=True))
    return (
        f"python -m noisefa.figures.{fig.module} {' '.join(args)} --context {context} "
        f"--out {shlex.quote(str(output[0]))} --title {shlex.quote(fig.title(config))} > {paths.log(fig.rule)} 2>&1"
    )


for fig in FIGURES.values():

    rule:
        name:
            fig.rule
        input:
            **fig.files,
            trajectories=lambda wc, fig=fig: list(trajectory_files(fig).values()),
            code=lib(f"noisefa.figures.{fig.module}"),
        output:
            report(figure_file(fig.name), caption=f"../report/{fig.caption}", category=fig.category),
        params:
            command=lambda wc, input, output, fig=fig: figure_command(fig, input, output),
        log:
            paths.log(fig.rule),
        benchmark:
            paths.benchmark(fig.rule)
        localrule: True
        conda:
            REPORT_ENV
        shell:
            "{params.command}"
