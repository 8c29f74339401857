"""Keep the Rasa server from importing TensorFlow and other libraries that serving our model never uses.

``rasa run`` held some 665 MiB, most of it TensorFlow, although our pipeline (``config.yml``: jieba,
``CountVectorsFeaturizer``, ``LogisticRegressionClassifier``, ``RulePolicy``) never calls it. Rasa
imports it anyway, by two chains:

1. **module imports that are never used while serving.** ``rasa.core.agent`` → ``rasa.core.policies.policy``
   → the featurizers → ``rasa.nlu.extractors.extractor`` does ``import rasa.utils.train_utils``
   (a module import: no attribute of it is read at import time), and ``rasa.utils.train_utils``
   imports ``rasa.utils.tensorflow.callback``, which imports ``tensorflow``. Likewise ``rasa.server`` →
   ``rasa.core.test`` → ``rasa.nlu.test`` imports ``rasa.utils.plotting`` and with it matplotlib.
   Each module of :data:`DEFERRED_MODULES` is therefore *deferred*: ``import`` gives a module object
   at once, and its code runs the first time a name that its source defines is read from it
   (``train_utils.normalize(…)``, ``from rasa.utils.train_utils import x``).
2. **the train schema.** ``ModelMetadata.from_dict`` (``rasa/engine/storage/storage.py``) parses the
   model's *train* graph schema as well as the predict one, which imports every class it names:
   ``DefaultV1RecipeValidator`` → ``DIETClassifier`` → TensorFlow. The server never reads the
   train schema (training, fingerprinting and ``ModelMetadata.as_dict`` do). :func:`install` makes
   ``from_dict`` give a schema that parses its nodes from the serialized dictionary the first
   time ``nodes`` is read.

Nothing changes in behaviour: anything that really uses a deferred module or the train schema
gets the real thing, loaded then instead of at start-up. Only *when* things happen moves: a
deferred module's import error, or a train schema naming a class that no longer exists, is raised
by that first use instead of at start-up, and ``dir()`` of a deferred module shows its names only
once it has run. Two details make the deferral work where the standard library's
:class:`importlib.util.LazyLoader` does not:

- CPython 3.10's ``import`` statement reads ``__spec__`` of a module already in ``sys.modules``,
  and LazyLoader executes the module on *any* attribute access. Here ``__spec__``, ``__name__``,
  ``__file__``, ``__doc__`` … are set as for any import, and only the names the source defines load it.
- skops (``LogisticRegressionClassifier`` loads its model with it) looks objects up by name in
  every module of ``sys.modules`` with ``getattr`` (the ufuncs of ``scipy.special``: ``agm``,
  ``beta`` …, as :mod:`pickle`'s ``whichmodule`` does). A deferred module answers a name its source
  does not define with ``AttributeError`` without loading: the module-level names are read from
  the source with :mod:`ast` beforehand. A module whose names cannot be known that way (a module
  ``__getattr__``, ``from x import *``, ``globals()``, no source) or a package is imported
  normally, with a warning.

Measured with the project's model, started as ``make run`` starts it (``bot.ops.services``), the
action server running: the Rasa server's RSS went from 686 MiB idle and 699 MiB after 200 REST
messages to 299 and 312 MiB, it is ready after 13 s instead of 25 s, and the
intents and confidences of the 355 evaluation questions are identical. Of the 300 MiB left, about
76 MiB is jieba's dictionary (the tokenizer needs it), 70 MiB numpy, SciPy and scikit-learn (the
classifier), 25 MiB more of scikit-learn that skops imports to list the types it trusts, and some
25 MiB the libraries of channels and tracker stores we do not use, which Rasa imports by name
(``from … import``) in ``rasa.core.channels`` and ``rasa.core.tracker_store``: deferring those
would mean replacing Rasa's modules, not just delaying them.

Only ``python -m bot.ops.rasa_server run`` installs it; training and the other commands import
Rasa as usual.
"""

from __future__ import annotations

import ast
import copy
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
import types
import weakref
from typing import Any

log = logging.getLogger(__name__)

# Module → what importing it would bring into the server. A deferred module must be a plain module
# (not a package) that what the server runs imports but whose attributes it never reads. Each entry
# must save measurable memory (≥ 5 MiB RSS after loading the model and parsing a message,
# measured against the same process without it):
DEFERRED_MODULES: dict[str, str] = {
    # rasa.core.agent → policies → featurizers → rasa.nlu.extractors.extractor imports it (for
    # training) → rasa.utils.tensorflow.callback → TensorFlow, Keras: 385 MiB together with the
    # lazy train schema (either alone saves nothing: the other still imports TensorFlow)
    "rasa.utils.train_utils": "TensorFlow and Keras (rasa.utils.tensorflow.callback)",
    # rasa.server → rasa.core.test → rasa.nlu.test (the plots of `rasa test`): 10 MiB
    "rasa.utils.plotting": "matplotlib",
}

# Read from a deferred module, these load it too (the real module has them once executed):
# ``from m import *`` reads ``__all__`` first and the module's dictionary when it has none.
_ALWAYS_LOADING = frozenset({"__all__", "__builtins__"})
# A module using one of these may define names that its source does not show.
_DYNAMIC_NAMES = frozenset({"__getattr__", "globals", "exec", "vars"})

_install_lock = threading.Lock()
_installed = False


class _Pending:
    """What a deferred module needs to run its code: the real loader and the names it defines."""

    def __init__(self, loader: importlib.abc.Loader, names: frozenset[str]):
        self.loader = loader
        self.names = names
        self.lock = threading.RLock()
        self.loading = False


_pending: weakref.WeakKeyDictionary[types.ModuleType, _Pending] = weakref.WeakKeyDictionary()


class _DeferredModule(types.ModuleType):
    """The class of a deferred module until its code has run (then it is :class:`types.ModuleType` again)."""

    def __getattr__(self, name: str) -> Any:
        # Only called for names missing from the module's dictionary (which holds __spec__ etc.).
        pending = _pending.get(self)
        if pending is not None and (name in pending.names or name in _ALWAYS_LOADING):
            _load(self, pending, name)
            return getattr(self, name)
        raise AttributeError(f"module {self.__dict__.get('__name__', '?')!r} has no attribute {name!r}")


def _load(module: types.ModuleType, pending: _Pending, name: str) -> None:
    """Run ``module``'s code with its real loader, once, then make it an ordinary module.

    Args:
        module: the deferred module.
        pending: its entry in :data:`_pending`.
        name: the attribute being read (for the error message).

    Raises:
        AttributeError: read again while its own code runs (as from a partially initialized module).
        Exception: what running the module's code raises; it stays deferred (the next read tries again).
    """
    with pending.lock:  # another thread waits here until the module is complete
        if _pending.get(module) is not pending:
            return  # another thread loaded it
        if pending.loading:  # this thread, while the module's code runs: not defined yet
            raise AttributeError(
                f"partially initialized module {module.__name__!r} has no attribute {name!r} "
                "(most likely due to a circular import)"
            )
        log.debug("loading deferred module %s (for %s)", module.__name__, name)
        pending.loading = True
        spec = module.__spec__
        try:
            if spec is not None:
                spec.loader = pending.loader
            module.__loader__ = pending.loader
            pending.loader.exec_module(module)
        except BaseException:
            deferring = _DeferringLoader(pending.loader, pending.names, module.__doc__)
            module.__loader__ = deferring
            if spec is not None:
                spec.loader = deferring
            raise
        finally:
            pending.loading = False
        del _pending[module]
        module.__class__ = types.ModuleType


def defined_names(source: str) -> frozenset[str] | None:
    """The names a module's code defines at module level, or None when its source cannot tell.

    A superset is harmless (reading such a name loads the module, which then lacks it); a missing
    name would hide a real attribute, so every way of binding a module-level name counts:
    assignments and ``del`` anywhere at module level (inside ``if``/``try``/``for``/``with`` too),
    ``def``/``class``, imports, ``except … as``, ``match`` captures, ``global`` in functions. None
    for a star import or a module that binds names dynamically (:data:`_DYNAMIC_NAMES`).
    """
    names: set[str] = set()
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

    def visit(node: ast.AST) -> bool:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, scopes):
                if not isinstance(child, ast.Lambda):
                    names.add(child.name)
                inner = list(ast.walk(child))
                names.update(n for g in inner if isinstance(g, ast.Global) for n in g.names)
                if any(isinstance(n, ast.Name) and n.id in _DYNAMIC_NAMES for n in inner):
                    return False
                continue
            if isinstance(child, ast.Name):
                if child.id in _DYNAMIC_NAMES:
                    return False
                if isinstance(child.ctx, (ast.Store, ast.Del)):
                    names.add(child.id)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for alias in child.names:
                    if alias.name == "*":
                        return False
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(child, ast.ExceptHandler) and child.name:
                names.add(child.name)
            elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                names.add(child.name)
            elif isinstance(child, ast.MatchMapping) and child.rest:
                names.add(child.rest)
            if not visit(child):
                return False
        return True

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not visit(tree) or "__getattr__" in names:
        return None
    return frozenset(names)


def _docstring(source: str) -> str | None:
    """The module's docstring, exactly as running its code would set ``__doc__``."""
    return ast.get_docstring(ast.parse(source), clean=False)


class _DeferringLoader(importlib.abc.Loader):
    """Wraps a module's real loader: ``exec_module`` only prepares the module; its first real use runs it."""

    def __init__(self, loader: importlib.abc.Loader, names: frozenset[str], doc: str | None = None):
        self.loader = loader
        self.names = names
        self.doc = doc

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        _pending[module] = _Pending(self.loader, self.names)
        module.__doc__ = self.doc  # what the module's code would set first
        module.__class__ = _DeferredModule

    def __getattr__(self, name: str) -> Any:
        # get_source, get_filename, is_package, get_resource_reader …: the real loader's
        return getattr(self.loader, name)


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: finds the modules of :data:`DEFERRED_MODULES` as the others do, deferred."""

    def __init__(self, modules: frozenset[str]):
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        if target is not None:  # importlib.reload: an ordinary import from now on
            if _pending.pop(target, None) is not None:
                target.__class__ = types.ModuleType
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, _DeferringFinder) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return None  # not found: the import fails as it would have
        if spec.submodule_search_locations is not None:
            # importing one of its submodules would not run the package's __init__ first
            log.warning("%s is imported normally: a package cannot be deferred", fullname)
            return None
        get_source = getattr(spec.loader, "get_source", None)
        try:
            source = get_source(fullname) if get_source is not None else None
        except ImportError:
            source = None
        names = defined_names(source) if source is not None else None
        if source is None or names is None:
            log.warning("%s is imported normally: its module-level names cannot be read from its source", fullname)
            return None
        spec.loader = _DeferringLoader(spec.loader, names, _docstring(source))
        return spec


def _install_lazy_train_schema() -> None:
    """Make ``ModelMetadata.from_dict`` parse the train schema when it is first used, not at once."""
    try:
        from rasa.engine.graph import GraphSchema
        from rasa.engine.storage.storage import ModelMetadata

        original = ModelMetadata.__dict__["from_dict"]
        schema_fields = GraphSchema.__dataclass_fields__
        metadata_fields = ModelMetadata.__dataclass_fields__
        frozen = ModelMetadata.__dataclass_params__.frozen
        GraphSchema.from_dict  # noqa: B018  # it must exist: the lazy schema calls it
    except (ImportError, AttributeError, KeyError) as exc:
        log.warning("Rasa's model metadata is not as expected (%r); the train schema is parsed at once", exc)
        return
    if getattr(getattr(original, "__func__", None), "_gxga_lazy_train_schema", False):
        return  # installed already
    if (
        not isinstance(original, classmethod)
        or "nodes" not in schema_fields
        or "nodes" in vars(GraphSchema)  # a class attribute would hide the lazy one
        or "train_schema" not in metadata_fields
        or frozen
    ):
        log.warning("Rasa's ModelMetadata or GraphSchema has changed; the train schema is parsed at once")
        return
    parse = original.__func__

    class LazyGraphSchema(GraphSchema):
        """A :class:`GraphSchema` whose nodes are parsed from its serialized form when first read.

        Parsing imports every component class the schema names; afterwards the object is a plain
        ``GraphSchema`` (its class too).
        """

        def __init__(self, serialized: dict[str, Any]):
            self.__dict__["_serialized"] = copy.deepcopy(serialized)

        def __getattr__(self, name: str) -> Any:
            serialized = self.__dict__.get("_serialized")
            if name != "nodes" or serialized is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            log.debug("parsing the model's train schema")
            self.nodes = GraphSchema.from_dict(copy.deepcopy(serialized)).nodes  # it changes its argument
            del self.__dict__["_serialized"]
            self.__class__ = GraphSchema
            return self.nodes

        def __eq__(self, other: object) -> bool:
            # a dataclass compares only with its own class: a parsed GraphSchema is an ordinary one
            return self.nodes == other.nodes if isinstance(other, GraphSchema) else NotImplemented

        __hash__ = None  # type: ignore[assignment]  # as GraphSchema's (a dataclass with eq)

        def __reduce__(self) -> tuple[Any, ...]:
            return (GraphSchema, (self.nodes,))  # copies and pickles are parsed, ordinary schemas

    def from_dict(cls: type, serialized: dict[str, Any]) -> Any:
        train = serialized.get("train_schema")
        if not isinstance(train, dict) or not isinstance(train.get("nodes"), dict):
            return parse(cls, serialized)  # not what Rasa writes: let Rasa say what is wrong
        metadata = parse(cls, {**serialized, "train_schema": {"nodes": {}}})
        metadata.train_schema = LazyGraphSchema(train)
        return metadata

    from_dict.__doc__ = parse.__doc__
    from_dict.__dict__["_gxga_lazy_train_schema"] = True
    ModelMetadata.from_dict = classmethod(from_dict)


def install() -> None:
    """Defer :data:`DEFERRED_MODULES` and parse the train schema lazily (idempotent).

    Call it before Rasa is imported: a module imported already is not deferred (it is
    logged). If Rasa's internals differ from what this expects, it logs a warning and leaves
    Rasa as it is.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        modules = frozenset(DEFERRED_MODULES)
        loaded = sorted(m for m in modules if m in sys.modules)
        if loaded:
            log.info("already imported, not deferred: %s", ", ".join(loaded))
        if not any(isinstance(f, _DeferringFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _DeferringFinder(modules))
        _install_lazy_train_schema()


def is_deferred(module: types.ModuleType) -> bool:
    """Whether ``module`` is deferred and its code has not run yet."""
    return module in _pending
