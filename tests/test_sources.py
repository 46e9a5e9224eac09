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


def test_no_stage_imports_a_model_family_and_each_family_is_its_jobs_own_input():
    from noisefa.nets.families import FAMILIES

    for stage in ("train", "pretrain", "meta", "ood"):
        files = closure(f"noisefa.stages.{stage}")
        assert "noisefa/nets/engine.py" in files
        assert "noisefa/nets/cnn.py" not in files and "noisefa/nets/model.py" not in files, stage
    assert "noisefa/nets/cnn.py" in closure(FAMILIES["cnn"].module)
    assert "noisefa/nets/model.py" in closure(FAMILIES["mlp"].module)
    assert "noisefa/nets/cnn.py" not in closure(FAMILIES["mlp"].module)
