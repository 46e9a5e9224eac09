from pathlib import Path

import pytest
import yaml

from noisefa.pipeline.config import ConfigError, load, schema, validate

REPO = Path(__file__).resolve().parents[1]


SHIPPED = ["config/config.yaml", "config/quick.yaml", "config/paper_offline.yaml", ".test/config/config.yaml"]


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_are_valid(path):
    cfg = load(REPO / path)
    assert cfg["conditions"] and cfg["noise"]["use"] in cfg["noise"]["sets"]


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("datasets: [synthetic]\ntrain:\n  lr: 0.1\nn_seeds: 2\ntrain:\n  lr: 0.01\n")
    with pytest.raises(ConfigError, match=r"config key 'train' is given twice in one block \(lines 2 and 5"):
        load(path)
    path.write_text("datasets: [synthetic]\ntrain: {lr: 0.1, lr: 0.2}\n")  # also inside a flow mapping
    with pytest.raises(ConfigError, match="'lr' is given twice"):
        load(path)


def test_every_schema_key_has_a_default_and_a_description():
    def walk(node, key):
        for name, sub in node.get("properties", {}).items():
            assert "description" in sub or sub.get("type") == "object", f"{key}{name} lacks a description"
            assert "default" in sub, f"{key}{name} lacks a default"
            walk(sub, f"{key}{name}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for name, sub in extra.get("properties", {}).items():
                assert "description" in sub, f"{key}*.{name} lacks a description"

    walk(schema(), "")


def test_defaults_are_filled():
    cfg = validate({"datasets": ["synthetic"]})
    assert cfg["train"]["lr"] == 0.01 and cfg["model"]["hidden"] == 100 and cfg["n_seeds"] == 10


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"trian": {}}, "trian"),
        ({"datasets": ["mnsit"]}, "datasets[0]: unknown value 'mnsit'"),
        ({"n_seeds": -1}, "n_seeds"),
        ({"n_seeds": "ten"}, "n_seeds"),
        ({"depths": []}, "depths"),
        ({"depths": [1]}, "depths.0"),
        ({"train": {"lr": 0}}, "train.lr"),
        ({"train": {"optimizer": "lbfgs"}}, "train.optimizer"),
        ({"conditions": ["fa_with"]}, "conditions[0]"),
        ({"noise": {"use": "pink"}}, "noise.use"),
        ({"noise": {"use": "p", "sets": {"p": {"distribution": "purple"}}}}, "noise.sets.p.distribution"),
        ({"train_overrides": {"synthetic": {"lr": -1}}}, "train_overrides.synthetic"),
        ({"train_overrides": {"synthetic": {"epochz": 3}}}, "epochz"),
        ({"device": "gpu"}, "device"),
        ({"model": {"batchnorm": "yes"}}, "model.batchnorm"),
        ({"figure1": {"sets": ["nope"]}}, "figure1.sets[0]: unknown value 'nope'"),
        ({"figure2": {"dataset": "mnsit"}}, "figure2.dataset"),
        ({"figure2": {"train": {"lr": 0}}}, "figure2.train -> train.lr"),
        ({"figure2": {"train": {"epochz": 1}}}, "epochz"),
        ({"generalisation": {"size": 1600, "sizes": [400]}}, "generalisation.size: 1600 is not one of"),
        ({"generalisation": {"dataset": "digits", "sizes": [1600, 5000], "size": 1600}}, "exceed the 1437 training images"),
        ({"experiment": "figure2"}, "config key experiment"),
        ({"train": {"evals_per_epoch": 0}}, "train.evals_per_epoch"),
        ({"pretrain_overrides": {"depth4": {"lr": 0}}}, "pretrain_overrides.depth4 -> pretrain.lr"),
        ({"pretrain_overrides": {"four": {"lr": 0.1}}}, "pretrain_overrides: 'four' does not match"),
        ({"pretrain_overrides": {"depth4": {"lrr": 0.1}}}, "pretrain_overrides.depth4: 'lrr' is not one of"),
        ({"pretrain_overrides": {"depth4": {"optimizer": "lbfgs"}}}, "pretrain_overrides.depth4.optimizer: unknown value"),
    ],
)
def test_bad_config_names_the_key(bad, needle):
    with pytest.raises(ConfigError) as e:
        validate({"datasets": ["synthetic"], **bad})
    assert needle in str(e.value)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"train": {"lr": NAN}}, "train.lr: nan"),
        ({"train": {"lr": INF}}, "train.lr: inf"),
        ({"train": {"momentum": -INF}}, "train.momentum: -inf"),
        ({"pretrain": {"lr": NAN}}, "pretrain.lr: nan"),
        ({"train_overrides": {"synthetic": {"weight_decay": INF}}}, "train_overrides.synthetic.weight_decay: inf"),
        ({"figure2": {"train": {"lr": NAN}}}, "figure2.train.lr: nan"),
        ({"noise": {"use": "p", "sets": {"p": {"distribution": "gaussian", "std": INF}}}}, "noise.sets.p.std: inf"),
        ({"convergence": {"min_delta": NAN}}, "convergence.min_delta: nan"),
        ({"ood": {"rotate": [0, INF]}}, "ood.rotate.1: inf"),
        ({"meta": {"lr": NAN}}, "meta.lr: nan"),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_key(bad, key):
    """JSON-schema bounds let NaN through (it compares false with every bound)."""
    with pytest.raises(ConfigError, match="is not a finite number") as e:
        validate({"datasets": ["synthetic"], **bad})
    assert f"config key {key} is not a finite number" in str(e.value)


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"train": {"train_subset": 2001}}, "train.train_subset: 2001 is larger than the 2000 training images of synthetic"),
        ({"train": {"batch_size": 2001}}, "train.batch_size: 2001 is larger than the 2000 training images of synthetic"),
        ({"train_overrides": {"synthetic": {"batch_size": 4096}}}, "train_overrides.synthetic.batch_size: 4096"),
        ({"train": {"train_subset": 100, "batch_size": 128}}, "train.batch_size: 128 is larger than the 100 training"),
        ({"figure2": {"dataset": "synthetic", "train": {"train_subset": 100}}}, "train.batch_size: 128 is larger than the 100"),
        ({"rules": {"enabled": True, "datasets": ["synthetic"], "train": {"batch_size": 3000}}}, "rules.train.batch_size: 3000"),
        ({"pretrain": {"batch_size": 100_000}}, "pretrain.batch_size: 100000 is larger than the 60000 samples of noise set"),
        ({"pretrain_overrides": {"depth2": {"batch_size": 70_000}}}, "pretrain_overrides.depth2.batch_size: 70000 is larger"),
        (
            {"meta": {"tasks": ["digits"], "batch_size": 2000, "train_samples": 5000}},
            "meta.batch_size: 2000 is larger than the 1437 adaptation images of task digits",
        ),
    ],
)
def test_sizes_beyond_the_dataset_are_refused_at_plan_time(bad, needle):
    with pytest.raises(ConfigError) as e:
        validate({"datasets": ["synthetic"], **bad})
    assert f"config key {needle}" in str(e.value)


def test_caps_larger_than_the_data_are_allowed():
    """eval_train_samples, gram_samples and the meta sample counts are documented as "at most"."""
    validate({"datasets": ["synthetic"], "train": {"eval_train_samples": 10**6, "gram_samples": 10**6},
              "meta": {"tasks": ["digits"], "train_samples": 10**6, "eval_samples": 10**6}})  # fmt: skip


def test_schema_file_is_yaml():
    assert yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["type"] == "object"


def test_docs_document_every_config_key():
    readme = (REPO / "docs" / "config.md").read_text()  # README links to it

    def keys(node, prefix):
        for name, sub in node.get("properties", {}).items():
            if sub.get("type") == "object" and "properties" in sub:
                yield from keys(sub, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}"

    missing = [k for k in keys(schema(), "") if f"| `{k}`" not in readme]
    assert not missing, f"docs/config.md's key table lacks {missing}"


def test_pretrain_overrides_apply_per_depth():
    from noisefa.pipeline.experiments import pretrain_config

    cfg = validate({"datasets": ["synthetic"], "pretrain_overrides": {"depth4": {"lr": 0.003, "steps": 9000}}})
    assert pretrain_config(cfg, 4)["lr"] == 0.003 and pretrain_config(cfg, 4)["steps"] == 9000
    assert pretrain_config(cfg, 2) == cfg["pretrain"] and pretrain_config(cfg, 4)["momentum"] == cfg["pretrain"]["momentum"]


def test_which_training_jobs_stop_at_convergence():
    from noisefa.pipeline.experiments import experiments, train_stop

    cfg = load(REPO / "config/config.yaml")
    assert all(train_stop(cfg, name) is None for name in experiments(cfg))  # late_epochs: every job to its cap
    cfg["convergence"]["late_epochs"] = None
    rule = {"patience_epochs": 3, "min_delta": 0.001, "min_epochs": 5}
    stops = {name: train_stop(cfg, name) for name in experiments(cfg)}
    assert stops["main"] == rule and stops["rules"] == rule
    assert stops["figure2"] is None and all(v is None for k, v in stops.items() if k.startswith("size"))  # curves, fixed updates
    assert all(v == rule for k, v in stops.items() if k.startswith("protocols"))
    off = validate({**cfg, "convergence": {**cfg["convergence"], "stop_at_convergence": False}})
    assert train_stop(off, "main") is None
    no_window = validate({**cfg, "convergence": {"patience_epochs": 3, "min_delta": 0.001}})
    assert train_stop(no_window, "main") is None  # no AUC window: every job runs to the cap


def test_an_external_ood_set_of_other_labels_is_refused_naming_the_key():
    """Networks trained on clothing scored against digit labels measure nothing (issue 21, item 8)."""
    bad = {"datasets": ["fashion_mnist"], "ood": {"enabled": True, "dataset": "fashion_mnist", "external": ["mnist5k"]}}
    with pytest.raises(ConfigError) as e:
        validate(bad)
    msg = str(e.value)
    assert msg.startswith("config key ood.external[0]: mnist5k's labels are 'digits'")
    assert "fashion_mnist (ood.dataset), whose labels are 'fashion'" in msg
    assert "Write instead `ood.external: []`" in msg and "set `ood.dataset` to a dataset of label space 'digits'" in msg
    with pytest.raises(ConfigError, match=r"ood.external\[1\]: kmnist's labels are 'kmnist'.*`ood.external: \[usps\]`"):
        validate({"datasets": ["mnist"], "ood": {"enabled": True, "dataset": "mnist", "external": ["usps", "kmnist"]}})
    with pytest.raises(ConfigError, match="stl10_32's labels are 'stl10'"):  # CIFAR-10 and STL-10 classes differ
        validate({"datasets": ["cifar10"], "ood": {"enabled": True, "dataset": "cifar10", "external": ["stl10_32"]}})
    ok = validate(
        {"datasets": ["mnist"], "ood": {"enabled": True, "dataset": "mnist", "external": ["usps", "digits", "mnist5k"]}}
    )
    assert ok["ood"]["external"] == ["usps", "digits", "mnist5k"]
    # meta-loss tasks of different labels are fine: each task adapts the network to its own labels first
    validate({"datasets": ["synthetic"], "meta": {"tasks": ["mnist", "fashion_mnist", "kmnist"]}})


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_ood_jobs_test_only_external_sets_of_their_labels(path):
    from noisefa.data.datasets import same_labels
    from noisefa.pipeline.plan import Plan, ood_external

    cfg = load(REPO / path)
    ood = cfg["ood"]
    if ood["enabled"]:
        assert ood_external(cfg, ood["dataset"]) == ood["external"]  # validated: all of them
    for job in Plan(cfg).ood(None):
        assert all(same_labels(x, job.wc["dataset"]) for x in ood_external(cfg, job.wc["dataset"]))
    paper = load(REPO / "config/paper_offline.yaml")
    assert (paper["ood"]["dataset"], paper["ood"]["external"]) == ("mnist5k", ["digits"])
    assert ood_external(paper, "fashion_mnist") == []  # the protocol study's Fashion-MNIST cells


@pytest.mark.parametrize("name", ["protocols-nobn", "protocols", "protocols-bn-gaussian_fresh", "size123", "dose30", "controls",
                                  "rules", "figure2"])  # fmt: skip
def test_the_pipeline_s_own_experiment_names_are_refused_for_the_main_sweep(name):
    with pytest.raises(ConfigError, match=rf"config key experiment: '{name}' is the name of one of the pipeline's own"):
        validate({"datasets": ["synthetic"], "experiment": name})
    validate({"datasets": ["synthetic"], "experiment": "sizes_main"})  # only the made names are taken


def test_table1_depth_must_be_a_trained_depth():
    with pytest.raises(ConfigError, match=r"config key table1.depth: 4 is not one of depths \[2, 3\]"):
        validate({"datasets": ["synthetic"], "depths": [2, 3], "table1": {"depth": 4}})


def test_a_protocol_study_set_smaller_than_the_pretraining_batch_is_refused_before_any_job():
    sets = {"main": {"distribution": "gaussian", "protocol": "fixed", "n_samples": 60000},
            "tiny": {"distribution": "gaussian", "protocol": "fixed", "n_samples": 100}}  # fmt: skip
    cfg = {"datasets": ["synthetic"], "noise": {"use": "main", "sets": sets}, "figure1": {"sets": []}}
    validate({**cfg, "protocols": {"enabled": False, "sets": ["tiny"]}})  # not trained: not checked
    with pytest.raises(
        ConfigError, match=r"config key pretrain.batch_size: 128 is larger than the 100 samples of noise set tiny"
    ):
        validate({**cfg, "protocols": {"enabled": True, "datasets": ["synthetic"], "sets": ["tiny"]}})


def test_numbers_beyond_float32_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"config key train.lr: 1e\+39 is beyond float32's range"):
        validate({"datasets": ["synthetic"], "train": {"lr": 1e39}})
    validate({"datasets": ["synthetic"], "train": {"lr": 1e30}})


def test_integral_floats_are_integers_everywhere_the_schema_asks_for_one():
    overrides = {"train_overrides": {"synthetic": {"epochs": 4.0}}, "pretrain_overrides": {"depth3": {"steps": 50.0}}}
    cfg = validate({"datasets": ["synthetic"], "n_seeds": 2.0, "depths": [2.0, 3], **overrides})
    assert cfg["n_seeds"] == 2 and type(cfg["n_seeds"]) is int and [type(d) for d in cfg["depths"]] == [int, int]
    assert (
        type(cfg["train_overrides"]["synthetic"]["epochs"]) is int and type(cfg["pretrain_overrides"]["depth3"]["steps"]) is int
    )
    from noisefa.pipeline.plan import Plan

    assert len(Plan(cfg).train()) > 0  # plan.py's range() took 2.0 before
    with pytest.raises(ConfigError, match=r"config key n_seeds: 2.5 is not of type 'integer'"):
        validate({"datasets": ["synthetic"], "n_seeds": 2.5})
    assert validate({"datasets": ["synthetic"], "train": {"lr": 1.0}})["train"]["lr"] == 1.0  # a number stays a float


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"ood": {"external": ["usps", "usps"]}}, r"config key ood.external: 'usps' is listed twice"),
        ({"meta": {"tasks": ["synthetic", "synthetic"]}}, r"config key meta.tasks: 'synthetic' is listed twice"),
        ({"rules": {"conditions": ["bp", "fa_w", "bp"]}}, r"config key rules.conditions: 'bp' is listed twice"),
        ({"depths": [2, 3, 2]}, r"config key depths: 2 is listed twice"),
    ],
)
def test_a_name_listed_twice_is_refused_naming_the_key(bad, needle):
    with pytest.raises(ConfigError, match=needle):
        validate({"datasets": ["synthetic"], **bad})


def test_convergence_windows_longer_than_the_training_are_refused():
    with pytest.raises(
        ConfigError, match=r"convergence.auc_epochs: 50 epochs is longer than the training of synthetic \(train.epochs: 20\)"
    ):
        validate({"datasets": ["synthetic"], "train": {"epochs": 20}, "convergence": {"auc_epochs": 50}})
    with pytest.raises(ConfigError, match=r"convergence.patience_epochs: 3 epochs .* \(train_overrides.synthetic.epochs: 2\)"):
        validate({"datasets": ["synthetic"], "train_overrides": {"synthetic": {"epochs": 2}}})
    validate({"datasets": ["synthetic"], "train": {"epochs": 20}, "convergence": {"auc_epochs": 20, "late_epochs": 5}})


def test_yaml_numbers_read_as_text_and_syntax_errors_say_what_to_write(tmp_path):
    (tmp_path / "c.yaml").write_text("datasets: [synthetic]\ntrain: {lr: 1e-3}\n")
    with pytest.raises(
        ConfigError, match=r"config key train.lr: '1e-3' is not of type 'number'; YAML reads 1e-3 as text .* write 1.0e-3"
    ):
        load(tmp_path / "c.yaml")
    (tmp_path / "bad.yaml").write_text("datasets: [synthetic]\ntrain: {lr: 0.02\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML at line 3, column 9"):
        load(tmp_path / "bad.yaml")
    from noisefa.pipeline.config import main

    assert main([str(tmp_path / "bad.yaml")]) == 1
    (tmp_path / "one.yaml").write_text("train: {lr: 0.02}\n")
    assert main([str(tmp_path / "one.yaml")]) == 0


def test_the_run_s_first_line_names_the_config_and_the_defaulted_keys(tmp_path):
    from pipeline_utils import snakemake

    (tmp_path / "one.yaml").write_text("datasets: [synthetic]\ntrain: {lr: 0.02}\n")
    r = snakemake("--configfile", tmp_path / "one.yaml", "--directory", tmp_path, "-n", "--quiet", "rules")
    first = next(line for line in r.stderr.splitlines() if line.startswith("noisefa:"))
    assert first.startswith(f"noisefa: config {tmp_path / 'one.yaml'}; the schema's defaults")
    assert "depths," in first and "n_seeds," in first and " train," not in first and "datasets," not in first
