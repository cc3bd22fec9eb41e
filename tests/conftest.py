import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

OTHER_BACKENDS = ("jax", "torch")
# The modules whose code runs differently on each backend: the mask math and
# its gradients, the wrapper around every layer type, training inside `fit`
# with the callbacks, saving, shared weights and mixed precision. The default
# run takes these on JAX (and PyTorch); CI's --slow step takes the rest.
CORE_MODULES = (
    "test_masks.py",
    "test_wrapper.py",
    "test_callbacks.py",
    "test_saving.py",
    "test_shared_weights.py",
    "test_mixed_precision.py",
)
# Set in the JAX/PyTorch sub-suites that tests/test_backends.py starts:
# "core" in the default run (`CORE_MODULES`), "rest" in CI's --slow step
# (every other module, and the core tests the core run skips).
SUBSUITE = os.environ.get("KERAS_LTP_SUBSUITE", "")
if SUBSUITE not in ("", "core", "rest"):
    raise ValueError(f"KERAS_LTP_SUBSUITE={SUBSUITE!r}: expected 'core' or 'rest' (or unset, outside a sub-suite)")
IN_SUBSUITE = bool(SUBSUITE)
IN_CORE_SUBSUITE = SUBSUITE == "core"

# How each backend package gets installed (README, "Tests"). JAX's default
# build is CPU-only and small, so the `test` extra installs it; PyTorch's
# default Linux build is multi-GB (CUDA), so it is left to the user.
_INSTALL = {
    "jax": "the `test` extra installs it: pip install -e '.[test]'",
    "torch": (
        "the `test` extra leaves it out (a plain `pip install torch` on Linux is a multi-GB CUDA build); "
        "to run the PyTorch tests: pip install torch (or a CPU build from PyTorch's CPU index), then "
        "python -m pytest --slow tests/test_backends.py tests/test_export.py -k torch"
    ),
}


def require_backend_package(name):
    """Skips, with the reason and the fix, when a backend package is missing.

    In CI (`CI` set) a package that the `test` extra installs must be there,
    so a missing one fails instead.
    """
    if importlib.util.find_spec(name) is None:
        message = f"{name} is not installed; {_INSTALL[name]}"
        if os.environ.get("CI") and name == "jax":
            pytest.fail(message)
        pytest.skip(message)


# Lines that TensorFlow's C++ code, the TFLite converter or a forced warning
# filter print; a user-facing run must show none of them.
NATIVE_LOG_MARKERS = (
    "I0000",
    "W0000",
    "E0000",
    "cuInit",
    "absl::InitializeLog",
    "fully_quantize",
    "DeprecationWarning",
)


def native_log_lines(text):
    """The lines of `text` that are native log noise."""
    return [line for line in text.splitlines() if any(marker in line for marker in NATIVE_LOG_MARKERS)]


def poisoned_env(root, names, message, **extra):
    """os.environ as a user's shell has it (no TF_CPP_MIN_LOG_LEVEL), with
    packages on PYTHONPATH whose import raises ImportError(message % name).

    Args:
        root: a pathlib.Path to write the poisoned packages into.
        names: the package names to poison (e.g. "torch", "keras").
        message: the error text, with `%s` for the package name.
        **extra: more variables to set.
    """
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").write_text(f"raise ImportError({message % name!r})\n")
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, **extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def gradients(loss_fn, variables):
    """d loss_fn() / d variables (keras.Variable), as numpy arrays, on any backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        def loss_of(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_fn()

        grads = jax.grad(loss_of)([v.value for v in variables])
    elif backend == "torch":
        import torch

        grads = torch.autograd.grad(loss_fn(), [v.value for v in variables])
        grads = [g.detach().cpu() for g in grads]
    else:
        raise NotImplementedError(f"gradients() for backend {backend!r}")
    return [np.asarray(g) for g in grads]


def pytest_addoption(parser):
    parser.addoption(
        "--sweep",
        action="store_true",
        help="also run the tests marked `sweep` (every KerasHub family, every keras.applications model; CI does)",
    )
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the tests marked `slow` (whole examples, killed runs, tf.distribute, big models; CI does)",
    )


# Why each opt-in marker is skipped without its option (the README's test
# command gives neither; CI gives both).
_OPT_IN = {
    "sweep": "a model-zoo sweep: run with --sweep (CI does); test_copying.py covers each route",
    "slow": "slow: run with --slow (CI does)",
}


def pytest_collection_modifyitems(config, items):
    # The JAX/PyTorch sub-suites are the longest tests (minutes, in their own
    # processes): first in the queue, so the other worker takes the rest
    # meanwhile instead of waiting for them at the end.
    items.sort(key=lambda item: not getattr(item, "originalname", "").startswith("test_other_backend"))
    if SUBSUITE:
        _split_subsuite(config, items)
    for marker, reason in _OPT_IN.items():
        if config.getoption(f"--{marker}"):
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


def _split_subsuite(config, items):
    """The core run skips the core-module tests marked `left_to_rest_run`;
    the rest run deselects every other core-module test (the core run took it)."""
    deselected = []
    for item in items:
        in_core_module = item.path.name in CORE_MODULES
        marker = item.get_closest_marker("left_to_rest_run")
        if IN_CORE_SUBSUITE and marker is not None:
            item.add_marker(pytest.mark.skip(reason=marker.kwargs["reason"]))
        elif SUBSUITE == "rest" and in_core_module and marker is None:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        dropped = set(map(id, deselected))
        items[:] = [item for item in items if id(item) not in dropped]
