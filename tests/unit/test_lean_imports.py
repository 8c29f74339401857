"""bot.rasa_ext.lean_imports: deferred modules load on first real use, and the Rasa server stays without TensorFlow.

The deferral is tested on throw-away modules (a probe records when their code runs); the last
test loads the project's trained model in fresh interpreters, with and without :func:`install`.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from bot.rasa_ext import lean_imports
from tests.support.paths import ROOT

PROBE = textwrap.dedent(
    '''
    """A probe module: its code records that it ran."""
    import json as _json
    import lean_probe_runs

    lean_probe_runs.runs.append(__name__)
    VALUE = 42
    if VALUE:
        CONDITIONAL = "set under if"


    def function():
        return "real"


    class Thing:
        pass
    '''
)


@pytest.fixture
def deferring(tmp_path, monkeypatch):
    """Write modules into a directory on ``sys.path``, deferred by a finder of their names.

    Yields ``make(name, source=PROBE, package=False)``, which writes one (a package: its
    ``__init__.py``) and returns its name; the finder, the modules and the probe's records are
    removed afterwards.
    """
    (tmp_path / "lean_probe_runs.py").write_text("runs = []\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    names: set[str] = set()
    finder = lean_imports._DeferringFinder(frozenset())
    sys.meta_path.insert(0, finder)

    def make(name: str, source: str = PROBE, package: bool = False) -> str:
        if package:
            (tmp_path / name).mkdir()
            (tmp_path / name / "__init__.py").write_text(source, encoding="utf-8")
        else:
            (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        names.add(name)
        finder.modules = frozenset(names)
        return name

    yield make
    sys.meta_path.remove(finder)
    for name in [*names, "lean_probe_runs"]:
        sys.modules.pop(name, None)


def runs() -> list[str]:
    import lean_probe_runs

    return lean_probe_runs.runs


def import_fresh(name: str) -> types.ModuleType:
    __import__(name)
    return sys.modules[name]


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("VALUE", 42),
        ("CONDITIONAL", "set under if"),
        ("function", "real"),  # called
        ("Thing", "Thing"),  # its __name__
        ("_json", "json"),  # an imported module
    ],
)
def test_a_real_attribute_loads_the_module_and_gives_the_real_object(deferring, attribute, expected):
    module = import_fresh(deferring("lean_probe_a"))
    assert runs() == [] and lean_imports.is_deferred(module)
    value = getattr(module, attribute)
    got = value() if attribute == "function" else getattr(value, "__name__", value)
    assert got == expected
    assert runs() == ["lean_probe_a"]  # once
    assert type(module) is types.ModuleType and not lean_imports.is_deferred(module)
    assert module.__loader__.__class__.__name__ == "SourceFileLoader"  # the real loader again
    assert module.__spec__.loader is module.__loader__
    assert module.VALUE == 42 and runs() == ["lean_probe_a"]


@pytest.mark.parametrize("attribute", ["agm", "nonexistent", "__path__", "__wrapped__", "inner_local"])
def test_an_unknown_attribute_raises_attribute_error_without_loading(deferring, attribute):
    module = import_fresh(deferring("lean_probe_b"))
    with pytest.raises(AttributeError, match="has no attribute"):
        getattr(module, attribute)
    assert not hasattr(module, attribute)
    assert runs() == [] and lean_imports.is_deferred(module)


def test_a_scan_of_every_module_by_name_does_not_load_it(deferring):
    """Loading the LogisticRegressionClassifier, skops looks names up in every module (as pickle does)."""
    module = import_fresh(deferring("lean_probe_c"))
    assert pickle.whichmodule(object(), "agm") == "__main__"
    assert runs() == [] and lean_imports.is_deferred(module)


def test_what_the_import_system_reads_is_there_without_loading(deferring):
    name = deferring("lean_probe_d")
    module = import_fresh(name)
    __import__(name)  # the import statement reads __spec__ of a module in sys.modules
    assert module.__name__ == name and module.__spec__.name == name
    assert module.__file__.endswith(f"{name}.py")
    assert module.__doc__ == "A probe module: its code records that it ran."
    assert runs() == []


def test_from_import_loads_it(deferring):
    name = deferring("lean_probe_e")
    namespace: dict = {}
    exec(f"from {name} import function, Thing", namespace)
    assert namespace["function"]() == "real" and runs() == [name]
    with pytest.raises(ImportError, match="cannot import name"):
        exec(f"from {name} import missing", {})


def test_star_import_gets_every_name(deferring):
    name = deferring("lean_probe_f")
    namespace: dict = {}
    exec(f"from {name} import *", namespace)
    assert namespace["VALUE"] == 42 and namespace["function"]() == "real"


def test_an_error_of_its_code_is_raised_by_the_first_use(deferring):
    name = deferring("lean_probe_g", "VALUE = 1\nraise RuntimeError('broken module')\n")
    module = import_fresh(name)  # no error yet: the code has not run
    with pytest.raises(RuntimeError, match="broken module"):
        module.VALUE  # noqa: B018
    assert lean_imports.is_deferred(module)  # the next use runs it again, as a new import would


@pytest.mark.parametrize(
    "source",
    [
        "from json import *\n",  # which names?
        "def __getattr__(name):\n    return name\n",  # any name
        "globals()['made'] = 1\n",
    ],
)
def test_a_module_whose_names_the_source_does_not_tell_is_imported_normally(deferring, source, caplog):
    module = import_fresh(deferring("lean_probe_h", source))
    assert not lean_imports.is_deferred(module) and type(module) is types.ModuleType
    assert "imported normally" in caplog.text


def test_a_package_is_imported_normally(deferring, caplog):
    """Importing a submodule of a deferred package would not run the package's ``__init__`` first."""
    module = import_fresh(deferring("lean_probe_pkg", package=True))
    assert not lean_imports.is_deferred(module) and runs() == ["lean_probe_pkg"]
    assert "a package cannot be deferred" in caplog.text


@pytest.mark.parametrize(
    ("source", "present", "absent"),
    [
        ("x = 1\ny: int = 2\na, (b, c) = 1, (2, 3)\n", {"x", "y", "a", "b", "c"}, set()),
        ("import os.path\nimport json as j\nfrom re import compile as rc\n", {"os", "j", "rc"}, {"json", "compile"}),
        ("def f():\n    local = 1\n    global g\n    g = 2\n", {"f", "g"}, {"local"}),
        ("class C:\n    inside = 1\n", {"C"}, {"inside"}),
        ("if X:\n    y = 1\nelse:\n    del z\n", {"y", "z"}, {"X"}),
        ("try:\n    import a\nexcept ImportError as e:\n    a = None\n", {"a", "e"}, {"ImportError"}),
        ("for i in range(3):\n    pass\nwith open('f') as fh:\n    pass\n", {"i", "fh"}, {"range", "open"}),
        ("if (n := 3):\n    pass\n", {"n"}, set()),
        ("match v:\n    case [first, *rest]:\n        pass\n    case {'k': k, **others}:\n        pass\n",
         {"first", "rest", "k", "others"}, {"v"}),
    ],
)  # fmt: skip
def test_defined_names_counts_every_module_level_binding(source, present, absent):
    names = lean_imports.defined_names(source)
    assert names is not None and present <= names and not (absent & names)


@pytest.mark.parametrize(
    "source", ["from os import *\n", "def __getattr__(n):\n    pass\n", "exec('x = 1')\n", "def f(:\n"]
)
def test_defined_names_cannot_tell(source):
    assert lean_imports.defined_names(source) is None


@pytest.fixture
def installable(monkeypatch):
    """:func:`lean_imports.install` as if never called; Rasa and ``sys.meta_path`` restored afterwards."""
    from rasa.engine.storage.storage import ModelMetadata

    original = ModelMetadata.__dict__["from_dict"]
    meta_path = list(sys.meta_path)
    monkeypatch.setattr(lean_imports, "_installed", False)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, lean_imports._DeferringFinder)]
    yield ModelMetadata
    ModelMetadata.from_dict = original
    sys.meta_path[:] = meta_path


def test_install_is_idempotent(installable):
    lean_imports.install()
    wrapped = installable.__dict__["from_dict"]
    lean_imports.install()
    lean_imports._installed = False  # even when called afresh, it wraps Rasa's method once
    lean_imports.install()
    assert sum(isinstance(f, lean_imports._DeferringFinder) for f in sys.meta_path) == 1
    assert isinstance(sys.meta_path[0], lean_imports._DeferringFinder)
    assert installable.__dict__["from_dict"] is wrapped
    assert wrapped.__func__._gxga_lazy_train_schema


def test_the_train_schema_is_parsed_when_first_read(installable, tmp_path, monkeypatch):
    from rasa.engine.graph import GraphSchema

    (tmp_path / "lean_probe_component.py").write_text("class Component:\n    pass\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    node = {
        "needs": {},
        "uses": "lean_probe_component.Component",
        "constructor_name": "create",
        "fn": "run",
        "config": {},
        "eager": False,
        "is_target": True,
        "is_input": False,
        "resource": None,
    }
    serialized = {
        "domain": {},
        "trained_at": "2026-01-01T00:00:00",
        "model_id": "m",
        "assistant_id": "a",
        "rasa_open_source_version": "3.6.21",
        "train_schema": {"nodes": {"probe": node}},
        "predict_schema": {"nodes": {}},
        "training_type": 3,
        "project_fingerprint": "f",
        "core_target": None,
        "nlu_target": "n",
        "language": "zh",
    }
    kept = copy.deepcopy(serialized)
    lean_imports.install()
    try:
        metadata = installable.from_dict(serialized)
        assert "lean_probe_component" not in sys.modules  # not parsed yet
        assert isinstance(metadata.train_schema, GraphSchema)
        assert metadata.train_schema.nodes["probe"].uses.__name__ == "Component"
        assert type(metadata.train_schema) is GraphSchema  # an ordinary schema from now on
        assert metadata.train_schema == GraphSchema.from_dict(copy.deepcopy(kept["train_schema"]))
        assert metadata.as_dict()["train_schema"] == kept["train_schema"]
        assert serialized == kept
    finally:
        sys.modules.pop("lean_probe_component", None)


def project_model() -> Path | None:
    """The model for the current data and config, else the newest one in models/ (None: none trained)."""
    from bot import config
    from bot.ops.training import model_path

    current = model_path(config.load())
    if current.is_file():
        return current
    models = sorted(glob.glob(str(ROOT / "models" / "*.tar.gz")), key=os.path.getmtime)
    return Path(models[-1]) if models else None


SERVE = textwrap.dedent(
    """
    import asyncio, json, sys
    if sys.argv[2] == "lean":
        from bot.rasa_ext import lean_imports
        lean_imports.install()
    import rasa.core.agent, rasa.core.run, rasa.server
    from rasa.core.agent import Agent
    agent = Agent.load(sys.argv[1])
    result = asyncio.run(agent.parse_message("毕业生落户需要什么"))
    print("RESULT", json.dumps({
        "intent": result["intent"]["name"],
        "confidence": result["intent"]["confidence"],
        "loaded": sorted({"tensorflow", "keras", "matplotlib"} & {m.split(".")[0] for m in sys.modules}),
    }))
    """
)


def test_the_server_loads_the_model_and_parses_without_tensorflow():
    """Fresh interpreters (in parallel): the same intent with and without install(), TensorFlow only without."""
    from bot import config
    from bot.ops.process import telemetry_env

    model = project_model()
    if model is None:
        pytest.skip("no trained model in models/ (`make train`, or the end-to-end tests, train one)")
    if not config.load().jieba_userdict.is_file():
        pytest.skip("the jieba dictionary the model needs is missing (`make kb`)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **telemetry_env()}
    procs = {
        mode: subprocess.Popen(
            [sys.executable, "-c", SERVE, str(model), mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("lean", "plain")
    }
    results = {}
    for mode, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, f"{mode}: exit {proc.returncode}\n{err[-3000:]}"
        results[mode] = json.loads(lines[-1][len("RESULT ") :])
    lean, plain = results["lean"], results["plain"]
    assert lean["loaded"] == [], "serving imported what it never uses"
    assert "tensorflow" in plain["loaded"]  # else this test no longer shows anything
    assert lean["intent"] == plain["intent"] == "ask_settle_graduate_materials"
    assert lean["confidence"] == pytest.approx(plain["confidence"], abs=1e-12)


@pytest.mark.parametrize(
    ("argv", "serves"),
    [(["run", "--model", "m"], True), (["run", "actions"], True), (["train"], False), (["shell"], False),
     (["test"], False), ([], False), (["--version"], False)],
)  # fmt: skip
def test_only_run_gets_the_lean_imports(argv, serves):
    from bot.ops.rasa_server import serves as runs_the_server

    assert runs_the_server(argv) is serves
