from noisefa.sources import closure


def test_train_stage_runs_the_engine_and_rules_but_no_plotting():
    files = closure("noisefa.stages.train")
    assert "noisefa/nets/learning_rules.py" in files and "noisefa/nets/engine.py" in files
    assert not any("figures" in f for f in files)


def test_figure_closure_excludes_training_code():
    files = closure("noisefa.figures.learning_curves")
    assert "noisefa/figures/style.py" in files and "noisefa/figures/learning_curves.py" in files
    assert "noisefa/nets/engine.py" not in files and "noisefa/figures/alignment.py" not in files


def test_noise_stage_does_not_depend_on_datasets():
    assert "noisefa/data/datasets.py" not in closure("noisefa.stages.make_noise")
