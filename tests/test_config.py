from pathlib import Path

import pytest
import yaml

from noisefa.config import ConfigError, load, schema, validate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["config/config.yaml", "config/quick.yaml", ".test/config/config.yaml"])
def test_shipped_configs_are_valid(path):
    cfg = load(REPO / path)
    assert cfg["conditions"] and cfg["noise"]["use"] in cfg["noise"]["sets"]


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
        ({"noise": {"use": "p", "sets": {"p": {"distribution": "pink"}}}}, "noise.sets.p.distribution"),
        ({"train_overrides": {"synthetic": {"lr": -1}}}, "train_overrides.synthetic"),
        ({"train_overrides": {"synthetic": {"epochz": 3}}}, "epochz"),
        ({"device": "gpu"}, "device"),
        ({"model": {"batchnorm": "yes"}}, "model.batchnorm"),
    ],
)
def test_bad_config_names_the_key(bad, needle):
    with pytest.raises(ConfigError) as e:
        validate({"datasets": ["synthetic"], **bad})
    assert needle in str(e.value)


def test_schema_file_is_yaml():
    assert yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["type"] == "object"
