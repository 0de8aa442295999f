"""Loading a finished training run safely: its best model (``model.keras``) and its card.

Only a native ``.keras`` (zip) file made of Keras' own layers loads by default, in Keras'
``safe_mode``; a model that would run code of its own when loaded raises ``UnsafeModelError``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras as keras  # noqa: E402

from deepfake_iot.train import CARD_FILE, MODEL_FILE  # noqa: E402


class UnsafeModelError(ValueError):
    """A saved model that would run code of its own when loaded (a Lambda layer, an object from
    outside Keras, a legacy HDF5 file); load it only with ``allow_unsafe=True`` if you trust it."""


_KERAS_MODULES = ("keras", "tf_keras", "builtins")


def unsafe_model_objects(config) -> list[str]:
    """What in a ``.keras`` file's ``config.json`` could run foreign code when deserialized:
    ``Lambda`` layers (Python bytecode) and objects whose module lies outside Keras or that were
    registered as custom objects. Empty for every model this project builds."""
    found = []

    def walk(node, where):
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]")
            return
        if not isinstance(node, dict):
            return
        class_name = node.get("class_name")
        label = f"{where}: {class_name}"
        if class_name in ("Lambda", "__lambda__"):
            found.append(f"{label} (a Lambda layer holds Python code)")
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in _KERAS_MODULES:
            found.append(f"{label} from module {module!r} (not part of Keras)")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            found.append(f"{label} registered as the custom object {registered!r}")
        for key, value in node.items():
            walk(value, f"{where}.{key}" if where else str(key))

    walk(config, "")
    return found


def load_trained(
    out_dir: str | Path, *, allow_unsafe: bool = False, custom_objects: dict | None = None
) -> tuple[keras.Model, dict]:
    """The best model of a finished run and its card.

    Only a native ``.keras`` (zip) file made of Keras' own layers is loaded by default, in
    Keras' ``safe_mode``: a Lambda layer, a custom or non-Keras object, or a file that is
    really a legacy HDF5 model (whose loader unpickles Python code) raises
    ``UnsafeModelError``. ``allow_unsafe=True`` (with ``custom_objects`` if the model needs
    them) loads such a model: do it only for a file you made or trust.
    """
    out_dir = Path(out_dir)
    card_path, model_path = out_dir / CARD_FILE, out_dir / MODEL_FILE
    if not (card_path.exists() and model_path.exists()):
        raise FileNotFoundError(
            f"no finished training in {out_dir}: expected {MODEL_FILE} and {CARD_FILE}; "
            "run the training notebook (03) first"
        )
    if not allow_unsafe:
        _check_safe_model_file(model_path)
    try:
        model = keras.models.load_model(
            str(model_path),
            custom_objects=custom_objects if allow_unsafe else None,
            safe_mode=not allow_unsafe,
        )
    except (ValueError, TypeError) as error:
        raise UnsafeModelError(
            f"{model_path} could not be loaded safely: {error}. If you trust this file, "
            "load it with load_trained(..., allow_unsafe=True)"
        ) from error
    try:
        card = json.loads(card_path.read_text())
    except ValueError as error:
        raise ValueError(f"{card_path} is not valid JSON: {error}") from error
    return model, card


def _check_safe_model_file(model_path: Path) -> None:
    hint = "; if you trust this file, load it with load_trained(..., allow_unsafe=True)"
    if not zipfile.is_zipfile(model_path):
        raise UnsafeModelError(
            f"{model_path} is not a native .keras (zip) file: a legacy HDF5 model can run "
            f"arbitrary code when loaded{hint}"
        )
    try:
        with zipfile.ZipFile(model_path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile) as error:
        raise UnsafeModelError(f"{model_path} has no readable config.json: {error}") from error
    problems = unsafe_model_objects(config)
    if problems:
        raise UnsafeModelError(
            f"{model_path} holds code that would run on loading: {'; '.join(problems[:3])}{hint}"
        )
