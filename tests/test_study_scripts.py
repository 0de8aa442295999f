"""The study scripts behind the recipe's choices: arguments, errors and the choice rule."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["choose_learning_rate", "diagnose_sbi"])
def test_a_study_script_names_the_missing_run(name, tmp_path, capsys):
    args = [str(tmp_path), "--model", "light_cnn", "--rates", "0.001"] if name == "choose_learning_rate" else [str(tmp_path)]
    with pytest.raises(SystemExit) as stop:
        load(name).main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "notebook 01" in err


def test_learning_rate_choice_takes_the_best_mean_over_seeds_and_counts_failures():
    module = load("choose_learning_rate")
    runs = pd.DataFrame({"learning rate": [0.002, 0.002, 0.005, 0.005, 0.005, 0.005],
                         "degrade from epoch": [0, 0, 0, 0, 3, 3],
                         "seed": [1, 2, 1, 2, 1, 2], "best val AUC": [0.9, 0.6, 0.8, 0.65, 0.8, 0.8],
                         "learned": [True, False, True, True, True, True],
                         "converged": [True, True, False, True, True, True]})
    summary = module.choose(runs).set_index(["learning rate", "degrade from epoch"])
    assert summary.index.tolist() == [(0.005, 3), (0.002, 0), (0.005, 0)]
    assert summary.loc[(0.002, 0), "learned"] == 1 and summary.loc[(0.005, 0), "converged"] == 1
    assert summary.loc[(0.005, 3), "best_val_auc_min"] == pytest.approx(0.8)
    runs.loc[5, "converged"] = False  # a higher mean does not make up for a run that did not converge
    runs.loc[4, "best val AUC"] = 0.95
    assert module.choose(runs)[["learning rate", "degrade from epoch"]].values.tolist()[0] == [0.005, 3]  # none did
    runs.loc[1, "learned"] = True
    assert module.choose(runs)[["learning rate", "degrade from epoch"]].values.tolist()[0] == [0.002, 0]
    with pytest.raises(SystemExit):
        module.main(["/nowhere", "--model", "light_cnn", "--rates", "-1"])
    with pytest.raises(SystemExit):
        module.main(["/nowhere", "--model", "light_cnn", "--rates", "0.001", "--degrade-from-epochs", "-1"])


def test_self_blending_diagnosis_compares_three_arms_on_the_same_probability():
    arms = load("diagnose_sbi").arms(0.3, (40, 100))
    assert list(arms.values()) == [(0.0, None), (0.3, None), (0.3, (40, 100))]
