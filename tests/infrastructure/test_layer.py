"""The deployed package starts: the SharedLayer, built by the Makefile's own recipe, is all a function needs.

The test virtualenv holds far more than the layer (moto alone pulls in aws-xray-sdk), so importing a handler
there proves nothing about the deployment. Here the layer is built once per session by ``make build-SharedLayer``
(for the host platform, into a temporary folder), and every function of the template is imported by a fresh
interpreter whose path holds the standard library, the layer and the function's ``CodeUri`` folder, nothing else:
what Lambda gives it. A runtime dependency missing from ``pyproject.toml`` fails here, not at the first cold start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from local.config import LocalConfig
from local.runtime import function_environment
from local.template import FunctionSpec, plan

pytestmark = pytest.mark.layer

ROOT = Path(__file__).resolve().parents[2]
# What the layer is built from: the project as `sam build` hands it to make, without local state.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", ".aws-sam", ".local-run", "build", "*.egg-info", "__pycache__", ".*_cache", "tests", "bench"
)
# A port nothing listens on: an AWS call made at import fails instead of reaching a developer's moto or AWS.
NO_AWS = "http://127.0.0.1:9"

# Run by `python -I -S` (no site-packages, no PYTHON* variables, no current folder): puts the function's folder and
# the layer on the path as Lambda does, imports the handler module, and names every module loaded from elsewhere.
IMPORT_HANDLER = """
import importlib, json, sys, sysconfig
function_dir, layer, handler = sys.argv[1:4]
sys.path[:0] = [function_dir, layer]
module_name, _, attribute = handler.rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, attribute)), handler
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
allowed = tuple(folder.rstrip("/") + "/" for folder in (function_dir, layer, *stdlib))
foreign = sorted(
    f"{name}: {path}"
    for name, mod in list(sys.modules.items())
    if (path := getattr(mod, "__file__", None)) and not path.startswith(allowed)
)
site = [p for p in sys.path if "site-packages" in p]
print(json.dumps({"foreign": foreign, "site": site}))
"""


@pytest.fixture(scope="session")
def shared_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make build-SharedLayer`` for the host platform, once a session; the layer's ``python`` folder."""
    work = tmp_path_factory.mktemp("layer")
    source, artifacts = work / "source", work / "artifacts"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PIP_TARGET", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(source), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}"]
        + ["LAYER_PLATFORM="],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"make build-SharedLayer failed:\n{result.stdout}\n{result.stderr}"
    layer = artifacts / "python"
    assert (layer / "shared" / "__init__.py").exists(), "the layer does not carry the shared package"
    return layer


def lambda_functions() -> dict[str, tuple[FunctionSpec, dict[str, str]]]:
    """Every function of the template with the environment Lambda gives it (tracing on, as deployed)."""
    config = LocalConfig()
    functions = {}
    for logical_id, spec in plan(config).functions.items():
        env = function_environment(spec, config)
        env.pop("POWERTOOLS_TRACE_DISABLED")  # the template turns tracing on: the tracer's imports must load
        env.update(AWS_ENDPOINT_URL=NO_AWS, HOME=os.devnull)
        functions[logical_id] = (spec, env)
    return functions


FUNCTIONS = lambda_functions()


def test_every_template_function_is_checked():
    resources = plan(LocalConfig()).functions

    assert set(FUNCTIONS) == set(resources) and len(FUNCTIONS) == 9


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_imports_from_the_built_layer_alone(logical_id, shared_layer, tmp_path):
    # GIVEN the function's folder, the layer the Makefile built, and the environment Lambda sets
    spec, env = FUNCTIONS[logical_id]

    # WHEN a clean interpreter (no site-packages, no PYTHONPATH, not the repository) imports its handler
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_HANDLER, str(spec.code_dir), str(shared_layer), spec.handler],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )

    # THEN it loads, and everything it loaded came from the standard library, the layer or the function's folder
    assert result.returncode == 0, f"{logical_id} does not start from the packaged layer:\n{result.stderr}"
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"foreign": [], "site": []}, loaded


def test_clean_interpreter_cannot_see_the_test_virtualenv(shared_layer, tmp_path):
    # GIVEN a package the test virtualenv has and the layer does not (a dev dependency)
    assert not (shared_layer / "moto").exists()

    # WHEN the clean interpreter of the test above tries to import it
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import moto"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sysconfig.get_paths()["purelib"]},
        cwd=tmp_path,
        check=False,
    )

    # THEN it fails: a function passing above cannot have borrowed from the virtualenv
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr
