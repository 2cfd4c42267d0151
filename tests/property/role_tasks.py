"""A role's task list, read from its YAML, and what a play would do with it: which tasks run for given role
variables (``include_tasks``, ``block`` and ``when`` resolved), the module arguments they template, the results
they register, the facts they set.

This is a small subset of Ansible's executor, for roles whose tasks are modules, ``include_tasks``/``import_tasks``,
``block``, ``set_fact``, ``assert``, ``fail`` and ``debug``; anything else (a loop, another action, a keyword that
changes what runs) raises ``UnsupportedTask`` naming the task, so a change to the role that this cannot follow is
seen at once rather than silently skipped. Templating is Jinja2 with Ansible's own core filters and tests; the
role's defaults and vars are resolved against each other (a default may use another). A condition that needs a
registered result is decided when the task runs, the others when the task list is built.
"""
import collections
import functools
import re
from pathlib import Path

import jinja2
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible.plugins.filter.mathstuff import FilterModule as MathFilters
from ansible.plugins.test.core import TestModule as CoreTests

OMIT = "__omit_place_holder__role_tasks"
INCLUDES = ("include_tasks", "import_tasks")
BUILTINS = ("set_fact", "assert", "fail", "debug")
# Keywords a task may carry that do not change which modules run or with what arguments.
HARMLESS_KEYWORDS = {"name", "when", "register", "vars", "tags", "no_log", "changed_when", "check_mode", "diff",
                     "delegate_to", "run_once", "environment", "module_defaults"}
WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expression>.*)\}\}\s*$", re.DOTALL)


class UnsupportedTask(Exception):
    """The role uses something this reader does not implement."""


class Undecided(Exception):
    """A condition needs a value that only exists when the play runs (a registered result)."""


class StrictChainableUndefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """As in Ansible: ``a.b.c | default(x)`` is x when ``a`` has no ``b``; using an undefined value otherwise fails."""


def _environment():
    environment = jinja2.Environment(undefined=StrictChainableUndefined, keep_trailing_newline=True)
    # Ansible's filters and tests beyond Jinja's own (Ansible's versions of default, map... expect its templar).
    for plugins in (CoreFilters().filters(), MathFilters().filters()):
        environment.filters.update((name, plugin) for name, plugin in plugins.items() if name not in environment.filters)
    environment.tests.update((name, plugin) for name, plugin in CoreTests().tests().items()
                             if name not in environment.tests)
    return environment


ENVIRONMENT = _environment()


# A role's templates are few and every example renders them again: compiling each source once takes jinja's lexer,
# parser and code generator out of the loop (about a fifth of the fault-sequence test's CPU).
@functools.lru_cache(maxsize=None)
def _expression(source):
    return ENVIRONMENT.compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=None)
def _template(source):
    return ENVIRONMENT.from_string(source)


def render(value, variables):
    """Template ``value`` (strings, lists, dicts) as Ansible would: a string that is one ``{{ expression }}`` keeps
    the expression's type; ``omit`` becomes OMIT (callers drop it)."""
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    context = dict(variables, omit=OMIT)
    whole = WHOLE_EXPRESSION.match(value)
    if whole and "}}" not in whole.group("expression"):
        value = _expression(whole.group("expression").strip())(**context)
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()  # pylint: disable=protected-access
        return value
    return _template(value).render(**context)


def condition(expression, variables):
    """A ``when``/``that`` entry, true or false."""
    if isinstance(expression, bool):
        return expression
    return bool(_expression(str(expression))(**dict(variables, omit=OMIT)))


def conditions_hold(conditions, variables):
    """All of ``conditions`` hold; raises Undecided if one needs an undefined variable."""
    try:
        return all(condition(entry, variables) for entry in conditions)
    except jinja2.UndefinedError as exc:
        raise Undecided(str(exc)) from exc


def drop_omitted(value):
    if isinstance(value, dict):
        return {key: drop_omitted(item) for key, item in value.items() if item != OMIT}
    if isinstance(value, list):
        return [drop_omitted(item) for item in value if item != OMIT]
    return value


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def role_variables(role_dir, role_vars):
    """The role's defaults, then its vars/main.yml, then ``role_vars`` (role parameters win), each value templated
    against the others."""
    role_dir = Path(role_dir)
    raw = {}
    for path in (role_dir / "defaults" / "main.yml", role_dir / "vars" / "main.yml"):
        if path.exists():
            raw.update(load_yaml(path))
    raw.update(role_vars)
    resolved = {}
    for dummy in range(len(raw) + 1):  # each pass resolves at least one more level of references
        pending = {}
        for name, value in raw.items():
            try:
                pending[name] = render(value, resolved)
            except jinja2.UndefinedError:
                continue
        if pending == resolved:
            break
        resolved = pending
    missing = sorted(set(raw) - set(resolved))
    if missing:
        raise UnsupportedTask("role variables that cannot be resolved: %s" % ", ".join(missing))
    return resolved


def as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def short_action(action):
    """``ansible.builtin.set_fact`` -> ``set_fact``; ``inferops.exoscale.ai_model`` -> ``inferops.exoscale.ai_model``."""
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if action.startswith(prefix):
            return action[len(prefix):]
    return action


Step = collections.namedtuple("Step", "phase name action args when register task_vars")
Step.__doc__ = """One task of a role run: ``action`` is a module FQCN or a builtin (set_fact, assert, fail, debug);
``args`` and ``when`` are still templates (rendered when the step runs); ``phase`` names the role run it belongs to."""


def task_action(task, source):
    keywords = set(task) - HARMLESS_KEYWORDS - {"block"}
    if "loop" in task or "with_items" in task or "until" in task:
        raise UnsupportedTask("%s: task %r loops; the property harness runs each task once" % (source, task.get("name")))
    if len(keywords) != 1:
        raise UnsupportedTask("%s: task %r has keywords %s; expected one action"
                              % (source, task.get("name"), sorted(keywords)))
    action = keywords.pop()
    return short_action(action), task[action]


def role_steps(role_dir, role_vars, phase, module_namespace="inferops.exoscale."):
    """The steps a run of the role at ``role_dir`` with ``role_vars`` takes, from tasks/main.yml on. Includes and
    conditions that only depend on variables are resolved here; conditions on registered results stay in the step.
    Returns (variables, steps)."""
    role_dir = Path(role_dir)
    variables = role_variables(role_dir, role_vars)
    variables.setdefault("ansible_check_mode", False)
    steps = []

    def walk(tasks, path, inherited_when):
        for task in tasks or []:
            when = inherited_when + as_list(task.get("when"))
            try:
                decided = conditions_hold(when, dict(variables, **(task.get("vars") or {})))
                when = []
            except Undecided:
                decided = True
            if not decided:
                continue
            if "block" in task:
                for part in ("rescue", "always"):
                    if part in task:
                        raise UnsupportedTask("%s: block %r has %s" % (path, task.get("name"), part))
                walk(task["block"], path, when)
                continue
            action, args = task_action(task, path)
            if action in INCLUDES:
                if when:
                    raise UnsupportedTask("%s: include %r depends on a registered result" % (path, task.get("name")))
                included = role_dir / "tasks" / render(args["file"] if isinstance(args, dict) else args, variables)
                walk(load_yaml(included), included, [])
                continue
            if not (action in BUILTINS or action.startswith(module_namespace)):
                raise UnsupportedTask("%s: task %r runs %s, which the property harness does not run"
                                      % (path, task.get("name"), action))
            steps.append(Step(phase=phase, name=task.get("name", action), action=action, args=args or {},
                              when=when, register=task.get("register"), task_vars=task.get("vars") or {}))

    main = role_dir / "tasks" / "main.yml"
    walk(load_yaml(main), main, [])
    return variables, steps
