"""Parameter profiles: ``params/default.yaml`` is the one source of truth, other profiles only
override it, and every notebook declares the keys it reads in its ``parameters`` cell.

Everything here fails before any notebook runs, with a message naming the key and the file:
an unknown key, a wrong type, a missing profile, or a notebook declaring a key that
``default.yaml`` does not hold.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
from pathlib import Path

import yaml

from deepfake_iot.paths import project_root


class ParameterError(ValueError):
    """A profile or a notebook's parameters cell is wrong; the message says where and how."""


def _safe_load(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ParameterError(f"parameter file not found: {path}") from error
    try:
        data = yaml.safe_load(text)  # safe loading only: YAML never constructs Python objects
    except yaml.YAMLError as error:
        raise ParameterError(f"{path}: not valid YAML (safe loader): {error}") from error
    except RecursionError as error:
        raise ParameterError(f"{path}: nested too deeply to be a parameter file") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def profile_path(profile: str, root: Path | None = None) -> Path:
    """``smoke`` -> ``params/smoke.yaml``; a path to a ``.yaml`` file is taken as it is."""
    root = root or project_root()
    if profile.endswith((".yaml", ".yml")) or "/" in profile:
        path = Path(profile)
        return path if path.is_absolute() else (Path.cwd() / path)
    path = root / "params" / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / "params").glob("*.yaml"))
        raise ParameterError(
            f"profile '{profile}' not found: no file {path}. Known profiles: {', '.join(known)}"
        )
    return path


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def check_type(key: str, value, default, source: Path):
    """Return ``value`` coerced to the default's type, or raise naming the key and the file."""
    if default is None or value is None and default is None:
        return value
    expected = type(default)
    problem = None
    if isinstance(default, bool):
        problem = not isinstance(value, bool)
    elif isinstance(default, int):
        problem = isinstance(value, bool) or not isinstance(value, int)
    elif isinstance(default, float):
        problem = isinstance(value, bool) or not isinstance(value, (int, float))
        if not problem:
            value = float(value)
    elif isinstance(default, list):
        problem = not isinstance(value, list)
        if not problem and default:
            value = [
                check_type(f"{key}[{i}]", item, default[0], source) for i, item in enumerate(value)
            ]
    elif isinstance(default, dict):
        problem = not isinstance(value, dict)
        if not problem:
            for sub_key in value:
                if sub_key not in default:
                    raise ParameterError(
                        f"{source}: key '{key}' has no entry '{sub_key}'; valid entries: {', '.join(map(str, default))}"
                    )
            value = {
                k: check_type(f"{key}.{k}", value.get(k, v), v, source) for k, v in default.items()
            }
    else:
        problem = not isinstance(value, expected)
    if problem:
        raise ParameterError(
            f"{source}: key '{key}' must be {expected.__name__} (like the default {default!r}), "
            f"got {_type_name(value)} {value!r}"
        )
    return value


def load_params(profile: str = "default", root: Path | None = None) -> dict:
    """Merge a profile's overrides onto ``default.yaml`` after checking every key and type."""
    root = root or project_root()
    default_file = root / "params" / "default.yaml"
    defaults = _safe_load(default_file)
    if profile == "default":
        return dict(defaults)
    source = profile_path(profile, root)
    overrides = _safe_load(source)
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            near = difflib.get_close_matches(str(key), defaults, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ParameterError(
                f"{source}: unknown key '{key}': it is not in {default_file.name}, so no notebook reads it.{hint}"
            )
        merged[key] = check_type(key, value, defaults[key], source)
    return merged


def notebook_parameters(notebook: Path) -> dict:
    """The names and default values a notebook declares in its cell tagged ``parameters``.

    The cell must hold only ``name = literal`` assignments (comments allowed), so it is read with
    ``ast.literal_eval``, never executed.
    """
    notebook = Path(notebook)
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ParameterError(
            f"{notebook}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
        )
    source = "".join(tagged[0]["source"])
    declared = {}
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError(
                f"{notebook}: the parameters cell may hold only 'name = literal' lines (line {node.lineno})"
            )
        try:
            declared[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as error:
            raise ParameterError(
                f"{notebook}: parameter '{node.targets[0].id}' is not a literal (line {node.lineno})"
            ) from error
    return declared


def check_notebooks(
    defaults: dict, notebooks: list[Path], default_file: str = "params/default.yaml"
) -> None:
    """Every notebook key is in default.yaml and every default.yaml key is read by a notebook."""
    declared_anywhere: set[str] = set()
    for notebook in notebooks:
        for key in notebook_parameters(notebook):
            declared_anywhere.add(key)
            if key not in defaults:
                raise ParameterError(
                    f"{notebook.name} declares parameter '{key}' but {default_file} has no such key"
                )
    unused = sorted(set(defaults) - declared_anywhere)
    if unused:
        raise ParameterError(
            f"{default_file}: key(s) {', '.join(unused)} are declared by no notebook"
        )


def params_for_notebook(params: dict, notebook: Path) -> dict:
    """Exactly the keys the notebook declares, with the profile's values."""
    return {key: params[key] for key in notebook_parameters(notebook)}


def params_hash(params: dict) -> str:
    canonical = json.dumps(params, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()[:12]
