import json

import pytest

from deepfake_iot.params import (
    ParameterError,
    check_notebooks,
    check_type,
    load_params,
    notebook_parameters,
    params_for_notebook,
    params_hash,
)
from deepfake_iot.run_all import list_notebooks


def write_project(tmp_path, default: str, profiles: dict[str, str] | None = None):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "default.yaml").write_text(default)
    for name, text in (profiles or {}).items():
        (tmp_path / "params" / f"{name}.yaml").write_text(text)
    return tmp_path


def write_notebook(path, source: str, tag: bool = True):
    cell = {
        "cell_type": "code",
        "metadata": {"tags": ["parameters"] if tag else []},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }
    path.write_text(
        json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_profile_overrides_and_coerces(tmp_path):
    root = write_project(
        tmp_path, "seed: 1\nrate: 0.5\nname: a\nsizes: [1, 2]\n", {"p": "rate: 1\nsizes: [3]\n"}
    )
    params = load_params("p", root)
    assert params == {"seed": 1, "rate": 1.0, "name": "a", "sizes": [3]}
    assert isinstance(params["rate"], float)


def test_typo_names_key_file_and_suggestion(tmp_path):
    root = write_project(tmp_path, "n_identities: 4\n", {"bad": "n_identites: 3\n"})
    with pytest.raises(ParameterError) as error:
        load_params("bad", root)
    message = str(error.value)
    assert "n_identites" in message and "bad.yaml" in message and "n_identities" in message


@pytest.mark.parametrize(
    ("value", "default"),
    [("3", 3), (True, 3), (1.5, 3), ("x", 1.0), (1, True), ("a", ["b"]), ([1], ["b"])],
)
def test_wrong_type_is_an_error(value, default, tmp_path):
    with pytest.raises(ParameterError, match="key 'k' must be|key 'k\\[0\\]' must be"):
        check_type("k", value, default, tmp_path / "p.yaml")


def test_missing_profile_lists_known(tmp_path):
    root = write_project(tmp_path, "a: 1\n", {"smoke": "a: 2\n"})
    with pytest.raises(ParameterError, match="profile 'nope' not found.*smoke"):
        load_params("nope", root)


def test_yaml_never_constructs_objects(tmp_path):
    root = write_project(
        tmp_path, "a: 1\n", {"evil": "a: !!python/object/apply:os.system ['echo hacked']\n"}
    )
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params("evil", root)


def test_notebook_parameters_are_literals_only(tmp_path):
    good = write_notebook(tmp_path / "01_a.ipynb", "seed = 3  # comment\nnames = ['x']\n")
    assert notebook_parameters(good) == {"seed": 3, "names": ["x"]}
    bad = write_notebook(tmp_path / "02_b.ipynb", "import os\nseed = 3\n")
    with pytest.raises(ParameterError, match="only 'name = literal'"):
        notebook_parameters(bad)
    untagged = write_notebook(tmp_path / "03_c.ipynb", "seed = 3\n", tag=False)
    with pytest.raises(ParameterError, match="exactly one cell tagged"):
        notebook_parameters(untagged)


def test_check_notebooks_both_directions(tmp_path):
    nb = write_notebook(tmp_path / "01_a.ipynb", "seed = 3\n")
    check_notebooks({"seed": 3}, [nb])
    with pytest.raises(ParameterError, match="declared by no notebook"):
        check_notebooks({"seed": 3, "stale": 1}, [nb])
    with pytest.raises(ParameterError, match="has no such key"):
        check_notebooks({}, [nb])
    assert params_for_notebook({"seed": 5, "other": 1}, nb) == {"seed": 5}


def test_hash_is_stable_and_sensitive():
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_project_profiles_are_valid(root):
    for path in sorted((root / "params").glob("*.yaml")):
        load_params(path.stem, root)


def test_project_notebooks_match_default_yaml(root):
    """default.yaml is the one source of truth: each notebook's defaults are the same values."""
    defaults = load_params("default", root)
    notebooks = list_notebooks(root)
    assert notebooks, "no notebooks found"
    check_notebooks(defaults, notebooks)
    for notebook in notebooks:
        for key, value in notebook_parameters(notebook).items():
            assert value == defaults[key], (
                f"{notebook.name}: {key} = {value!r} but default.yaml has {defaults[key]!r}"
            )


def test_every_override_has_a_reason(root):
    for path in sorted((root / "params").glob("*.yaml")):
        if path.stem == "default":
            continue
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            if line and not line.startswith((" ", "#", "-")) and ":" in line:
                previous = lines[index - 1] if index else ""
                assert "#" in line or previous.startswith("#"), (
                    f"{path.name}: '{line}' has no reason comment"
                )


def test_library_defaults_are_the_parameter_file_defaults():
    """One source of defaults: the augmenter's and the benchmark targets' match params/default.yaml."""
    import yaml

    from deepfake_iot.augment import AUGMENT_DEFAULTS

    from .conftest import ROOT

    defaults = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    for key, value in AUGMENT_DEFAULTS.items():
        if f"aug_{key}" in defaults:
            assert value == defaults[f"aug_{key}"], f"augment.AUGMENT_DEFAULTS[{key!r}] = {value!r}, default.yaml aug_{key} = {defaults[f'aug_{key}']!r}"
