"""Run a module of the collection in the test process: its real ``main()`` with the arguments Ansible would pass,
the result read from the JSON it prints.

An ``ansible-playbook`` run costs seconds (the controller, a worker fork, the AnsiballZ payload, a new Python);
this costs milliseconds. It checks the module's logic (argument handling, the requests it sends, its result and
its ``no_log`` filtering, which ``exit_json`` applies); what only Ansible does (templating, ``module_defaults``,
check mode from the command line, callbacks, forks) still needs a real run. Used by the property harness
(tests/property/role_harness.py) and by the ``run_module`` fixture of tests/integration/conftest.py.
"""
import contextlib
import gc
import importlib
import io
import json
import os
import warnings
from unittest import mock

MODULE_PACKAGE = "ansible_collections.inferops.exoscale.plugins.modules."
COLLECTION_PREFIX = "inferops.exoscale."


class ModuleCrashed(Exception):
    """main() raised instead of exiting with a result: the user would see a traceback."""


def module_name(name):
    """``ai_model``, ``inferops.exoscale.ai_model`` -> ``ai_model``."""
    return name[len(COLLECTION_PREFIX):] if name.startswith(COLLECTION_PREFIX) else name


@contextlib.contextmanager
def _module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
    except ImportError:  # older cores (the version matrix): the same, by hand
        from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps(dict(ANSIBLE_MODULE_ARGS=args)).encode()):
            yield
        return
    with patch_module_args(args):
        yield


def _clear_module_messages():
    """Warnings and deprecations are per process in a module: one run must not see the previous run's."""
    from ansible.module_utils.common import warnings  # pylint: disable=import-outside-toplevel

    for name in ("_global_warnings", "_global_deprecations"):
        collected = getattr(warnings, name, None)
        if collected is not None:
            collected.clear()


@contextlib.contextmanager
def _module_side():
    """A module's warnings go into its result, unless ansible-core (>= 2.19) believes it runs in the controller: any
    controller import in this process (an inventory or lookup plugin a test loaded) flips that flag, and the warnings
    would then be printed instead. In a module's own process it is never set."""
    try:
        from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel
    except ImportError:  # older cores: no such flag
        yield
        return
    with mock.patch.object(_internal, "is_controller", False):
        yield


def run_module(name, args, env=None, check_mode=False, diff=False, collect=True):
    """Call module ``name``'s ``main()`` with ``args`` (and ``env`` added to the environment); return its result
    dict as Ansible would receive it (``failed`` set on fail_json). ``check_mode``/``diff`` are what
    ``--check``/``--diff`` pass to a module. ``collect=False`` leaves the module's unclosed clients to the garbage
    collector's own pace (a full collection per call costs tens of milliseconds in a large test process)."""
    module = importlib.import_module(MODULE_PACKAGE + module_name(name))
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    _clear_module_messages()
    output = io.StringIO()
    with contextlib.ExitStack() as stack:
        if env is not None:
            stack.enter_context(mock.patch.dict(os.environ, env))
        stack.enter_context(_module_args(args))
        stack.enter_context(_module_side())
        stack.enter_context(contextlib.redirect_stdout(output))
        try:
            module.main()
        except SystemExit:
            pass
        except Exception as exc:  # pylint: disable=broad-except
            raise ModuleCrashed("%s raised %s: %s" % (name, type(exc).__name__, exc)) from exc
    if collect:
        with warnings.catch_warnings():  # a module never closes its HTTP client (its process would exit now)
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    text = output.getvalue().strip()
    if not text:
        raise ModuleCrashed("%s printed no result" % name)
    return json.loads(text.splitlines()[-1])
