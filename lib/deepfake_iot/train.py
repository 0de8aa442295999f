"""Training with Keras ``fit``: seeds, distribution strategies, resumable runs, model cards.

A run lives in one folder::

    out_dir/
      model.keras       the best epoch on validation AUC (written last, atomically)
      card.json         what the run was: architecture, options, run key, sizes, best epoch, ...
      history.csv       one row per epoch (CSVLogger, appended to on resume)
      tb/               TensorBoard logs (optional)
      backup/           BackupAndRestore checkpoint of the last finished epoch (while running)
      resume_state.json the state of the other callbacks at that epoch (while running)
      best.weights.h5   the best epoch's weights (while running)

``train_model`` returns the card of a finished run without training again when the run key is
unchanged, and resumes a killed run from its last finished epoch.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from deepfake_iot.models import model_summary  # noqa: E402
from deepfake_iot.paths import HISTORY  # noqa: E402
from deepfake_iot.provenance import package_versions  # noqa: E402

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
MODEL_FILE = "model.keras"
CARD_FILE = "card.json"


def set_seeds(seed: int) -> None:
    """Seed Python's ``random``, NumPy and TensorFlow, and make TensorFlow ops deterministic.

    With the same seed, the same data order and the same hardware, a training repeats bit for
    bit on CPU. Op determinism is process-wide and makes ops without a deterministic kernel
    raise instead of silently differing (some GPU ops are slower under it). Call it before
    building the input pipeline too: a ``shuffle(seed=...)`` takes the global seed in force
    when the dataset is created.
    """
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def configure_logical_cpus(count: int) -> None:
    """Split the CPU into ``count`` logical devices so MirroredStrategy can be tried without a
    GPU. Call it before TensorFlow initialises its devices (first thing in the process)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """A distribution strategy by name.

    - ``default``: no distribution (one device).
    - ``mirrored``: synchronous data parallelism over the local GPUs; with no GPU, over the
      logical CPU devices (see ``configure_logical_cpus``).
    - ``multiworker``: MultiWorkerMirroredStrategy over the workers described by ``TF_CONFIG``.
    - ``tpu``: TPUStrategy on the TPU the runtime provides (Colab).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            print("multiworker: TF_CONFIG is not set, so this process is a single worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def global_batch_size(per_replica_batch: int, strategy: tf.distribute.Strategy) -> int:
    """The batch the input pipeline must deliver: ``fit`` splits it across the replicas."""
    return per_replica_batch * strategy.num_replicas_in_sync


def class_weights(labels) -> dict[int, float]:
    """Balanced class weights ``n_samples / (n_classes * n_c)``, as scikit-learn computes them."""
    labels = np.asarray(labels).astype(int).ravel()
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"class_weights needs both classes, got only {classes.tolist()}")
    return {
        int(c): float(len(labels) / (len(classes) * n))
        for c, n in zip(classes, counts, strict=True)
    }


@dataclass(frozen=True)
class Recipe:
    """How every model is trained, in one place: Adam on binary cross-entropy (balanced class
    weights), a learning rate that warms up linearly for ``warmup_epochs`` and then follows a
    cosine decay to ``final_lr_fraction`` of its peak at ``epochs``, the checkpoint with the best
    validation AUC, and early stopping once validation AUC has not improved by ``min_delta`` for
    ``patience`` epochs, watched only from epoch ``stop_from_epoch`` on (so no run stops while its
    rate is still near the peak, where validation AUC is noisiest). ``learning_rates`` overrides
    the peak rate per model (chosen on validation, the parameter file says how).

    A cosine schedule ends its run with a small learning rate whatever the epoch count, so a run
    that is still improving at its last epoch means too few epochs, not a rate left too high;
    early stopping makes the longest schedule cheap where a model converges sooner.
    """

    epochs: int
    learning_rate: float
    warmup_epochs: int = 1
    final_lr_fraction: float = 0.01
    patience: int = 4
    min_delta: float = 0.002
    stop_from_epoch: int = 0
    learning_rates: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.epochs < 1 or self.learning_rate <= 0 or self.patience < 1 or self.stop_from_epoch < 0:
            raise ValueError("a recipe needs epochs >= 1, learning_rate > 0, patience >= 1 and "
                             f"stop_from_epoch >= 0, got {self}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs} of {self.epochs}")
        bad = {name: rate for name, rate in self.learning_rates.items() if not rate > 0}
        if bad:
            raise ValueError(f"learning_rates must be positive, got {bad}")

    def rate_for(self, model: str) -> float:
        """The peak learning rate of ``model``: its own entry, else the common one."""
        return float(self.learning_rates.get(model) or self.learning_rate)

    def fit_options(self, model: str) -> dict:
        """``train_model``'s keyword arguments for ``model``."""
        return {"epochs": self.epochs, "learning_rate": self.rate_for(model), "patience": self.patience,
                "warmup_epochs": self.warmup_epochs, "final_lr_fraction": self.final_lr_fraction,
                "min_delta": self.min_delta, "stop_from_epoch": self.stop_from_epoch}

    def describe(self) -> pd.DataFrame:
        """One row per setting, for the notebook's page."""
        rows = {"optimizer": "Adam", "loss": "binary cross-entropy, balanced class weights",
                "schedule": f"linear warm-up {self.warmup_epochs} epoch(s), cosine decay to "
                            f"{self.final_lr_fraction:g} x peak at epoch {self.epochs}",
                "peak learning rate": f"{self.learning_rate:g}" + "".join(
                    f"; {name} {rate:g}" for name, rate in self.learning_rates.items() if rate),
                "checkpoint": "best validation AUC",
                "early stopping": f"no validation AUC gain of {self.min_delta:g} in {self.patience} epochs"
                                  + (f", watched from epoch {self.stop_from_epoch + 1}" if self.stop_from_epoch else "")}
        return pd.DataFrame({"setting": list(rows), "value": list(rows.values())})

    def key(self) -> dict:
        return asdict(self)


def learning_rate_schedule(learning_rate: float, epochs: int, steps_per_epoch: int, *, warmup_epochs: int = 0,
                           final_lr_fraction: float = 0.01):
    """Linear warm-up from ``learning_rate / 10`` over ``warmup_epochs``, then cosine decay to
    ``final_lr_fraction * learning_rate`` at the end of ``epochs`` (Keras' ``CosineDecay``)."""
    warmup = int(warmup_epochs * steps_per_epoch)
    decay = max(1, int(epochs * steps_per_epoch) - warmup)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay, alpha=final_lr_fraction)
    return keras.optimizers.schedules.CosineDecay(learning_rate / 10, decay, alpha=final_lr_fraction,
                                                  warmup_target=learning_rate, warmup_steps=warmup)


def _steps_per_epoch(dataset: tf.data.Dataset) -> int | None:
    steps = int(dataset.cardinality())
    return steps if steps > 0 else None


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def _describe_build_fn(build_fn: Callable) -> tuple[str, dict]:
    """Architecture name and options of ``functools.partial(build_model, name, size, **opts)``
    (or of any partial or plain function)."""
    if isinstance(build_fn, functools.partial):
        func, args, options = build_fn.func, build_fn.args, dict(build_fn.keywords)
        if func.__name__ == "build_model" and args:
            architecture, args = args[0], args[1:]
        else:
            architecture = func.__name__.removeprefix("build_")
        if args:
            options["input_size"] = args[0]
        return str(architecture), _jsonable(options)
    return getattr(build_fn, "__name__", "model").removeprefix("build_"), {}


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), **package_versions()}


def _worker(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """``(is_chief, task index)`` of this process; a single process is the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    is_chief = task_type in (None, "chief") or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )
    return is_chief, int(task_id)


class _ResumeState(keras.callbacks.Callback):
    """Saves and restores what BackupAndRestore does not: the best value and patience counters
    of ModelCheckpoint and EarlyStopping, and the training time so far (the learning rate follows
    the optimizer's step count, which BackupAndRestore restores).

    Placed after those callbacks (so it restores after they reset in ``on_train_begin``) and
    after BackupAndRestore (so it writes after the epoch's checkpoint).
    """

    FIELDS = {
        "checkpoint": ("best",),
        "early_stopping": ("wait", "best", "best_epoch"),
    }

    def __init__(self, path: Path, tracked: dict, seconds_before: float):
        super().__init__()
        self.path, self.tracked, self.seconds_before = path, tracked, seconds_before
        self.started = time.perf_counter()
        self.last_epoch = -1

    def on_train_begin(self, logs=None):
        if not self.path.exists():
            return
        state = json.loads(self.path.read_text())
        for key, callback in self.tracked.items():
            for name, value in state["callbacks"].get(key, {}).items():
                setattr(callback, name, value)
        self.last_epoch = state["epoch"]

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        callbacks = {
            key: {field: _jsonable(getattr(callback, field)) for field in self.FIELDS[key]}
            for key, callback in self.tracked.items()
        }
        # ``stopped``: EarlyStopping ended the run at this epoch (it runs before this callback).
        # A run killed after that, while saving the model, must not train one more epoch.
        stopped = bool(getattr(self.model, "stop_training", False))
        state = {"epoch": epoch, "seconds": self.seconds(), "callbacks": callbacks,
                 "stopped": stopped}  # fmt: skip
        _write_json(self.path, state)


def _trim_history(history: Path, next_epoch: int) -> None:
    """Keep only rows of epochs before ``next_epoch`` (an epoch logged but not backed up when
    the run was killed is run again, and must not be listed twice)."""
    if not history.exists():
        return
    lines = history.read_text().splitlines()
    if not lines:
        return
    columns = len(lines[0].split(","))

    def complete_and_before(line: str) -> bool:  # a kill can cut the last row short
        fields = line.split(",")
        return len(fields) == columns and fields[0].isdigit() and int(fields[0]) < next_epoch

    kept = [lines[0]] + [line for line in lines[1:] if complete_and_before(line)]
    tmp = history.with_name(f".{history.name}.tmp")
    tmp.write_text("\n".join(kept) + "\n")
    os.replace(tmp, history)


def _best_from_history(history: Path) -> tuple[int, float, int]:
    """``(best epoch, best val AUC, epochs run)`` from history.csv."""
    lines = [line.split(",") for line in history.read_text().splitlines() if line]
    header, rows = lines[0], lines[1:]
    column = header.index("val_auc")
    aucs = [float(row[column]) for row in rows]
    best = int(np.argmax(aucs))
    return int(rows[best][0]), aucs[best], len(rows)


def _clear_run(out_dir: Path) -> None:
    for name in ("backup", "tb"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in ("resume_state.json", HISTORY, "best.weights.h5", MODEL_FILE, CARD_FILE):
        (out_dir / name).unlink(missing_ok=True)


def train_model(build_fn: Callable[[], keras.Model], train_ds: tf.data.Dataset, val_ds: tf.data.Dataset,
                out_dir: str | Path, *, epochs: int, learning_rate: float, patience: int, seed: int, run_key: dict,
                class_weight: dict | None = None, warmup_epochs: int = 0, final_lr_fraction: float = 0.01,
                min_delta: float = 0.0, stop_from_epoch: int = 0, strategy: str | tf.distribute.Strategy = "default", resume: bool = True,
                tensorboard: bool = True, verbose: int = 2, callbacks: list | None = None) -> dict:
    """Train ``build_fn()`` (an uncompiled model) and return its card.

    Datasets come batched with the global batch size, built after ``set_seeds(seed)`` (the model
    is seeded again). The best epoch on validation AUC is kept; training stops after ``patience``
    epochs without a gain of ``min_delta``, counted from epoch ``stop_from_epoch`` on. The rate
    warms up over ``warmup_epochs``, then decays along a cosine to ``final_lr_fraction`` of ``learning_rate`` at ``epochs``
    (``learning_rate_schedule``; constant where the training set's size is unknown). With
    ``resume`` a killed run continues from its last finished epoch, and a finished run whose
    ``run_key`` is unchanged is not trained again; ``resume=False`` starts over. Extra
    ``callbacks`` run after the built-in ones (after the epoch's backup is written).
    """
    out_dir, run_key = Path(out_dir), _jsonable(run_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    finished = _finished_card(out_dir, run_key, resume)
    if finished is not None:
        return finished
    strategy_name, strategy = (strategy, make_strategy(strategy)) if isinstance(strategy, str) else (type(strategy).__name__, strategy)
    is_chief, task_id = _worker(strategy)
    work_dir = out_dir if is_chief else out_dir / f".worker{task_id}"
    work_dir.mkdir(parents=True, exist_ok=True)
    _write_json(work_dir / "run_key.json", run_key)
    set_seeds(seed)
    schedule = {"warmup_epochs": warmup_epochs, "final_lr_fraction": final_lr_fraction}
    model = _compiled(build_fn, strategy, train_ds, learning_rate, epochs, schedule)
    state_path = work_dir / "resume_state.json"
    seconds_before, training_done = _resume_point(state_path, work_dir, epochs, out_dir)
    fit_callbacks, resume_state = _callbacks(work_dir, state_path, seconds_before, patience=patience,
                                             min_delta=min_delta, stop_from_epoch=stop_from_epoch,
                                             tensorboard=tensorboard, extra=callbacks)
    if not training_done:  # else every epoch ran: only saving the best model was left to do
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight,
                  callbacks=fit_callbacks, verbose=verbose)
    if not is_chief:
        shutil.rmtree(work_dir, ignore_errors=True)
        return {"run_key": run_key, "chief": False}
    best = _save_best(build_fn, out_dir)
    settings = {"run_key": run_key, "seed": seed, "epochs_max": epochs, "learning_rate": learning_rate, **schedule,
                "min_delta": min_delta, "stop_from_epoch": stop_from_epoch, "class_weight": _jsonable(class_weight), "strategy": strategy_name,
                "replicas": strategy.num_replicas_in_sync}
    card = _card(best, build_fn, out_dir, settings, round(resume_state.seconds(), 2))
    shutil.rmtree(out_dir / "backup", ignore_errors=True)
    state_path.unlink(missing_ok=True)
    return card


def _compiled(build_fn, strategy, train_ds, learning_rate: float, epochs: int, schedule: dict) -> keras.Model:
    """``build_fn()`` under ``strategy``, compiled with Adam on the recipe's learning-rate schedule."""
    steps = _steps_per_epoch(train_ds)
    rate = learning_rate if steps is None else learning_rate_schedule(learning_rate, epochs, steps, **schedule)
    with strategy.scope():
        model = build_fn()
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")])
    return model


def _card(best: keras.Model, build_fn, out_dir: Path, settings: dict, seconds: float) -> dict:
    """The finished run's card (``card.json``): the model, its best epoch from the history, the
    recipe's ``settings``, the training time and the library versions."""
    best_epoch, best_auc, epochs_run = _best_from_history(out_dir / HISTORY)
    architecture, options = _describe_build_fn(build_fn)
    card = {"architecture": architecture, "model_name": best.name, "options": options, **model_summary(best),
            **{key: settings[key] for key in ("run_key", "seed", "epochs_max")}, "epochs_run": epochs_run,
            "best_epoch": best_epoch, "best_val_auc": best_auc,
            **{key: value for key, value in settings.items() if key not in ("run_key", "seed", "epochs_max")},
            "seconds": seconds, "versions": _versions()}
    _write_json(out_dir / CARD_FILE, card)
    return card


def _finished_card(out_dir: Path, run_key: dict, resume: bool) -> dict | None:
    """The card of a finished run with the same ``run_key`` (not trained again); otherwise
    ``None``, after clearing what a run with another key (or ``resume=False``) left behind."""
    card_path, key_path = out_dir / CARD_FILE, out_dir / "run_key.json"
    if resume and card_path.exists() and (out_dir / MODEL_FILE).exists():
        card = json.loads(card_path.read_text())
        if card.get("run_key") == run_key:
            print(f"{out_dir}: up to date (run key unchanged), not retrained")
            return card
    if not resume or not key_path.exists() or json.loads(key_path.read_text()) != run_key:
        _clear_run(out_dir)
    return None


def _resume_point(state_path: Path, work_dir: Path, epochs: int, out_dir: Path) -> tuple[float, bool]:
    """``(seconds trained before, whether every epoch already ran)`` of a killed run, and its
    history trimmed to the epochs its backup holds."""
    seconds_before, next_epoch, training_done = 0.0, 0, False
    if state_path.exists():
        state = json.loads(state_path.read_text())
        seconds_before, next_epoch = state["seconds"], state["epoch"] + 1
        training_done = bool(state.get("stopped")) or next_epoch >= epochs
        print(f"{out_dir}: resuming after epoch {state['epoch']}")
    _trim_history(work_dir / HISTORY, next_epoch)
    return seconds_before, training_done


def _callbacks(work_dir: Path, state_path: Path, seconds_before: float, *, patience: int, min_delta: float,
               stop_from_epoch: int, tensorboard: bool, extra: list | None) -> tuple[list, _ResumeState]:
    """The fit's callbacks in their order (best checkpoint, early stopping, history, TensorBoard,
    backup, the resume state, then ``extra``) and the resume state itself."""
    checkpoint = keras.callbacks.ModelCheckpoint(str(work_dir / "best.weights.h5"), monitor="val_auc", mode="max",
                                                 save_best_only=True, save_weights_only=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience,
                                                   min_delta=min_delta, restore_best_weights=False,
                                                   start_from_epoch=stop_from_epoch)
    resume_state = _ResumeState(state_path, {"checkpoint": checkpoint, "early_stopping": early_stopping}, seconds_before)
    found = [checkpoint, early_stopping, keras.callbacks.CSVLogger(str(work_dir / HISTORY), append=True)]
    if tensorboard:
        found.append(keras.callbacks.TensorBoard(str(work_dir / "tb")))
    found += [keras.callbacks.BackupAndRestore(str(work_dir / "backup"), delete_checkpoint=False), resume_state,
              *(extra or [])]
    return found, resume_state


def _save_best(build_fn: Callable[[], keras.Model], out_dir: Path) -> keras.Model:
    """The best weights in a fresh model outside the strategy (mirrored variables cannot take an
    h5 file, and the saved model should not depend on how it was trained), saved atomically."""
    best = build_fn()
    best.load_weights(str(out_dir / "best.weights.h5"))
    tmp_model = out_dir / ".model.tmp.keras"
    best.save(str(tmp_model))
    os.replace(tmp_model, out_dir / MODEL_FILE)
    return best


def train_planned(
    entry: dict,
    manifest,
    data_dir: Path,
    models_dir: Path,
    *,
    augment_cfg: dict,
    manifest_hash: str,
    global_batch: int,
    recipe: Recipe,
    bn_momentum: float,
    class_weight: dict | None,
    strategy,
    tensorboard: bool = True,
    callbacks: list | None = None,
) -> dict:
    """Carry out one record of ``plan.training_plan`` with ``recipe`` (its learning rate for the
    record's architecture): its data (a held-out method left out of
    train and validation), its augmentation (self-blending probability, degradations on or off,
    from epoch ``degrade_from_epoch``),
    its model, seeded, under ``models_dir/<name>/seed<k>``; return the card with the plan's
    ``model``, ``seed``, ``group``, ``dir``, ``input_size``, ``held_out`` and ``sbi_prob``."""
    from deepfake_iot.augment import DegradationOnset, augment_config
    from deepfake_iot.data.methods import leave_out_method
    from deepfake_iot.models import build_model
    from deepfake_iot.pipeline import make_dataset

    name, run_seed, size = entry["name"], entry["seed"], entry["input_size"]
    set_seeds(run_seed)
    data = leave_out_method(manifest, entry["held_out"]) if entry["held_out"] else manifest
    run_augment = augment_config({**augment_cfg, "sbi_prob": entry["sbi_prob"], "degrade_prob": entry.get(
        "degrade_prob", augment_cfg.get("degrade_prob", 0.0)) if entry["degradation"] else 0.0})
    onset = DegradationOnset(run_augment["degrade_from_epoch"])
    train_ds = make_dataset(data, data_dir, "train", image_size=size, batch_size=global_batch, training=True,
                            augment_cfg=run_augment, seed=run_seed, degradation_onset=onset)
    val_ds = make_dataset(data, data_dir, "val", image_size=size, batch_size=global_batch, training=False)
    fit = recipe.fit_options(entry["architecture"])
    run_key = {"model": entry["architecture"], "options": entry["options"], "seed": run_seed, "manifest": manifest_hash,
               "held_out": entry["held_out"], "augment": run_augment, **fit, "bn_momentum": bn_momentum,
               "batch": global_batch, "input": size}
    card = train_model(
        functools.partial(build_model, entry["architecture"], size, bn_momentum=bn_momentum, **entry["options"]),
        train_ds, val_ds, Path(models_dir) / name / f"seed{run_seed}", class_weight=class_weight, seed=run_seed,
        strategy=strategy, run_key=run_key, tensorboard=tensorboard, verbose=0,
        callbacks=[onset.callback(), *(callbacks or [])], **fit,
    )
    return {"model": name, "seed": run_seed, "group": entry["group"], "dir": f"models/{name}/seed{run_seed}",
            "input_size": size, "held_out": entry["held_out"], "sbi_prob": entry["sbi_prob"],
            "degrade_prob": run_augment["degrade_prob"], **card}
