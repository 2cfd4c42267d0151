# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The declarative resource layer: a resource is declared once, one driver runs every resource module.

A ``Resource`` names its API path, its list key, its ``Field``s (option, its argument spec, API key, sent on
create, how it changes in place) and its states (ready, failed, busy). ``ResourceModule`` is the driver:
find (by id or by name, ambiguity refused) -> ``plan`` (reads only: the action, its reasons, warnings,
refusals) -> check mode returns the plan, a run ``apply``s exactly that plan -> result.
Modules subclass it to declare their resource and the hooks they need; hooks return values.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import email.utils
import re
import time

from ansible_collections.inferops.exoscale.plugins.module_utils import progress
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError, api_path
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName, pick_one, to_snake
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import client_from_module, exoscale_module, wait_options
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import (
    Deadline,
    OPERATION_SCHEDULE,
    READINESS_SCHEDULE,
    WaitTimeout,
    wait_until,
)

# How a field changes on an existing resource.
IMMUTABLE = "immutable"  # a different value needs a new resource (recreate)
PATCH = "patch"          # PATCH <path>/<id>
CREATE_ONLY = "create-only"  # sent on create, never read back or compared (secrets such as a token)


class Action:
    """A field changed by an action of its own: ``POST <path>/<id>/<name>`` with ``{api key: value}``.

    Its name is the plan's action when it is the only change (``Field("replicas", change=Action("scale"))``).
    """

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Action(%r)" % self.name


SCALE = Action("scale")  # POST <path>/<id>/scale

# What a create answers.
OPERATION = "operation"  # an Operation whose reference.id is the new resource
OBJECT = "object"        # the resource itself, synchronously

# The one UUID pattern of the collection: a reference that matches it is an id, anything else a name.
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# After a create timed out (the server may still be working on it), look for the resource this many
# api_timeouts before sending the create again.
IN_FLIGHT_GRACE_FACTOR = 2

# Several resources of one name, all created within this many seconds of the server's clock, are the copies of
# concurrent creators: each of them keeps the oldest and deletes its own (Resource.keep_oldest). Older duplicates
# were made by someone else and are refused.
RACE_WINDOW = 300
# How long a lookup that meets such copies re-lists, waiting for the newer ones to be deleted, before it uses
# the oldest anyway (a creator that was killed before its delete leaves its copy behind).
RACE_SETTLE = 30
# A creator that keeps its own copy re-lists every SECOND_OVER_STEP seconds until the server's clock is past the
# second of that copy's created-at (Resource.keep_oldest); more rounds than a second needs.
SECOND_OVER_STEP = 0.25
SECOND_OVER_ROUNDS = 6


class ResourceFailed(ExoscaleError):
    """A resource is or turned failed (or vanished) while we waited for it."""

    def __init__(self, message, resource=None, diagnosis=None, **kwargs):
        super(ResourceFailed, self).__init__(message, **kwargs)
        self.resource = resource
        self.diagnosis = diagnosis


class ResourceWaitTimeout(ExoscaleError):
    def __init__(self, message, resource=None, diagnosis=None):
        super(ResourceWaitTimeout, self).__init__(message)
        self.resource = resource
        self.diagnosis = diagnosis


class Field:
    """One module option and the API key it maps to.

    ``read(resource)`` gives the current value as the option would say it (default: the API key's
    value); ``to_api(value)`` what the create/PATCH body carries (default: the value).
    """

    def __init__(self, option, api_key=None, change=IMMUTABLE, create=True, read=None, to_api=None, empty=None,
                 required=False, matches=None, type="str", elements=None, no_log=None, choices=None, fallback=None,
                 check=None):
        self.option = option
        self._check = check  # check(option, value) -> what is wrong with a given value (None: nothing), before any request
        self.spec = dict((k, v) for k, v in dict(type=type, elements=elements, no_log=no_log, choices=choices,
                                                 fallback=fallback).items() if v is not None)
        self.required = required  # needed to create
        self._matches = matches
        self.api_key = api_key or option.replace("_", "-")
        self.change = change
        self.create = create
        self._read = read
        self._to_api = to_api
        self.empty = empty  # what an unset current value counts as when compared ([] for lists)

    def raw(self, resource):
        """The current value as the API gives it (None when the API left it out)."""
        return self._read(resource) if self._read else resource.get(self.api_key)

    def read(self, resource):
        value = self.raw(resource)
        return self.empty if value is None else value

    def matches(self, resource, value):
        """Whether the resource already has ``value``; an unknown current value always matches."""
        if self._matches:
            return self._matches(resource, value)
        now = self.read(resource)
        return now is None or now == value

    def to_api(self, value):
        return self._to_api(value) if self._to_api else value

    def problem(self, value):
        return self._check(self.option, value) if self._check and value is not None else None


def get_or_none(client, path):
    try:
        return client.get(path)
    except ExoscaleError as exc:
        if exc.status == 404:
            return None
        raise


def oldest_of(resources):
    """The resource every concurrent run keeps: the oldest by ``created-at``, then by id."""
    return min(resources, key=lambda r: (r.get("created-at") or "", r.get("id") or ""))


def timestamp(text):
    """Seconds since the epoch of an API ``created-at`` (ISO 8601, UTC), or None when absent or unreadable."""
    try:
        moment = datetime.datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def server_time(client):
    """The server's clock as its last answer's Date header gave it; the local clock when there was none."""
    try:
        return email.utils.parsedate_to_datetime(getattr(client, "last_date", None)).timestamp()
    except (TypeError, ValueError):
        return time.time()


def raced(copies, now, ready=()):
    """Whether ``copies`` (several resources of one name) can be concurrent creators' copies: every one of them
    created within RACE_WINDOW seconds of ``now``, and none but the oldest in a ``ready`` state (a losing creator
    deletes its copy as soon as its create operation ends; a newer copy that got ready was kept by its maker)."""
    created = [timestamp(copy.get("created-at")) for copy in copies]
    if not all(moment is not None and abs(now - moment) <= RACE_WINDOW for moment in created):
        return False
    keeper = oldest_of(copies)  # copies of its second order by id: which of them came first is unknown
    return not [copy for copy in copies if copy.get("created-at") != keeper.get("created-at")
                and copy.get("state") in ready]


def wait_for(client, fetch, done, deadline, what, history=None, kind=None):
    """The one wait: poll ``fetch`` until ``done``; record and report each state change as it is seen."""
    def observed(resource):
        state = (resource or {}).get("state", "absent")
        if history is not None and (not history or history[-1]["state"] != state):
            history.append({"state": state, "seconds": round(deadline.elapsed(), 1)})
            progress.report(kind, (resource or {}).get("name"), state, deadline.elapsed(), (resource or {}).get("state-details"))
        return done(resource)
    try:
        return wait_until(fetch, observed, deadline, READINESS_SCHEDULE, sleep=client.sleep, describe=what)
    except WaitTimeout as exc:
        raise ResourceWaitTimeout("%s. Raise wait_timeout, or run again later: the task picks up where it stopped."
                                  % exc, resource=exc.last)


class Resource:
    """Where a kind of resource lives in the API and how it behaves. Declared once per kind."""

    def __init__(self, kind, path, list_key, fields, ready=(), failed=(), busy=(), creates=OPERATION,
                 private_only=False, get_after_list=False, busy_conflicts=False, lingers=False, title=None, plural=None,
                 hints=None, identity="name", renamable=False):
        self.kind = kind
        self.identity = identity  # the option a resource is found by when no id is given
        self.renamable = renamable  # with an id, a different identity is a PATCH, not a mismatch  # the result key of the resource module
        self.title = title or kind.capitalize()  # how messages name it
        self.plural = plural or kind + "s"  # the result key of the info module
        self.path = path
        self.list_key = list_key
        self.fields = fields
        self.ready = ready
        self.failed = failed
        self.busy = busy
        self.creates = creates
        self.private_only = private_only  # names match among the organization's own resources
        self.get_after_list = get_after_list  # the list entries lack fields that a GET has
        self.busy_conflicts = busy_conflicts  # writes answer 409 while another operation runs
        self.lingers = lingers  # still listed for a while after its delete operation succeeded
        self.hints = hints or {}  # {HTTP status: advice} added to a write's error message

    def field(self, option):
        return next(f for f in self.fields if f.option == option)

    def item_path(self, resource_id):
        return api_path(self.path + "/{%s_id}" % self.kind, **{"%s_id" % self.kind: resource_id})

    def list(self, client, visibility="private"):
        query = {"visibility": visibility} if self.private_only and visibility else None
        items = client.get(self.path, query=query).get(self.list_key, [])
        if self.private_only and visibility:
            items = [item for item in items if item.get("visibility", "private") == visibility]
        return items

    def get(self, client, resource_id):
        return get_or_none(client, self.item_path(resource_id))

    def find(self, client, name=None, resource_id=None, full=True, deadline=None, warn=None):
        """By id (one GET), or the only one named ``name`` (list, then GET when the list is thin and ``full``:
        a caller that needs only the id saves that GET); None when absent. Concurrent creators' copies of the
        name resolve to the one they all keep (``only_named``)."""
        if resource_id:
            return self.get(client, resource_id)
        match = self.only_named(client, name, deadline, warn)
        return self.get(client, match["id"]) if match and self.get_after_list and full else match

    def only_named(self, client, name, deadline=None, warn=None):
        """The one resource named ``name``, or None.

        Several of that name that were all created in the last RACE_WINDOW seconds (and none of the newer ones
        ready) are concurrent creators' copies: every creator keeps the oldest and deletes its own
        (``keep_oldest``). Re-list until the newer ones are gone, for at most RACE_SETTLE seconds (and never past
        ``deadline``), then use the oldest, as those creators do. Any other duplicates raise AmbiguousName,
        which names their ids.
        """
        items = self.list(client)
        try:
            return pick_one(items, self.kind, name=name)
        except AmbiguousName:
            copies = self.dated(client, [item for item in items if item.get("name") == name])
            if not raced(copies, server_time(client), self.ready):
                raise
        bound = RACE_SETTLE if deadline is None else max(0.0, min(RACE_SETTLE, deadline.remaining()))
        settle = Deadline(bound, clock=deadline.clock if deadline is not None else time.monotonic)

        def settled(found):
            if len(found) > 1 and not raced(self.dated(client, found), server_time(client), self.ready):
                pick_one(found, self.kind, name=name)  # raises AmbiguousName: a copy stayed, it is not a race
            return len(found) <= 1
        try:
            copies = wait_until(lambda: self.named(client, name), settled, settle,
                                OPERATION_SCHEDULE, sleep=client.sleep, current=copies)[0]
        except WaitTimeout as exc:
            copies = self.dated(client, exc.last)
            if warn is not None:
                warn("%d %ss named %r were created at the same time by concurrent runs (ids: %s); this task uses the"
                     " oldest, %s: each run that created another deletes its own." % (
                         len(copies), self.kind, name, ", ".join(sorted(c.get("id", "?") for c in copies)),
                         oldest_of(copies).get("id")))
        return oldest_of(copies) if copies else None

    def dated(self, client, copies):
        """``copies`` with their ``created-at``: a thin list entry without it is read in full."""
        return [(self.get(client, c["id"]) or c) if not c.get("created-at") and self.get_after_list and c.get("id")
                else c for c in copies]

    def select(self, client, name=None, resource_id=None, visibility="private"):
        """What an info module lists: all, those named ``name`` (full objects), or the one with ``resource_id``."""
        if resource_id:
            found = self.get(client, resource_id)
            return [found] if found and name in (None, found.get("name")) else []
        items = self.list(client, visibility)
        if name is None:
            return items
        return [(self.get(client, i["id"]) or i) if self.get_after_list else i for i in items if i.get("name") == name]

    def resolve(self, client, ref, full=True):
        """The resource ``ref`` names: an id (UUID) or a name (the only one so named); None when absent."""
        if UUID_PATTERN.match(ref or ""):
            return self.get(client, ref)
        return self.find(client, name=ref, full=full)

    def named(self, client, name):
        return [item for item in self.list(client) if item.get("name") == name]

    def create(self, client, body, deadline):
        """POST a create that never duplicates; return ``(resource or {"id": ...}, created)``.

        Every time the outcome is uncertain (the answer was lost, or the server may still be working on
        it), look the resource up by name before sending again, as long as the client's retry budget
        and the deadline allow. ``created`` is False when a resource found that way was adopted.
        """
        attempts = client.retry.attempts
        for attempt in range(attempts):
            try:
                answer = client.request("POST", self.path, body=body)
                break
            except ExoscaleError as exc:
                if not exc.uncertain or attempt + 1 >= attempts or deadline.expired():
                    if attempt:
                        exc.message = ("%s Sent %d times; before each resend the %s was looked up by name and not found."
                                       % (exc.args[0], attempt + 1, self.kind))
                        exc.args = (exc.message,)
                    raise
                existing = self._look_for(client, body["name"], exc, deadline)
                if existing:
                    return existing, False
                client.sleep(client.retry.delay(attempt, exc.retry_after))
        if self.creates == OBJECT:
            return answer, True
        return {"id": client.wait_operation(answer, deadline)["reference"]["id"]}, True

    def _look_for(self, client, name, error, deadline):
        """What an uncertain create may have made, or None; waits a grace period while it may be in flight."""
        def find_existing():
            return self.only_named(client, name, deadline)
        existing = find_existing()
        if existing or not error.in_flight:
            return existing
        grace = Deadline(min(IN_FLIGHT_GRACE_FACTOR * (client.timeout or 30.0), max(0.0, deadline.remaining())),
                         clock=deadline.clock)
        try:
            return wait_until(find_existing, lambda found: found is not None, grace, READINESS_SCHEDULE,
                              sleep=client.sleep)[0]
        except WaitTimeout:
            return None

    def keep_oldest(self, client, name, own_id, deadline, final=True):
        """Two runs that both found nothing both created: every such run keeps the oldest of that name
        and deletes only its own when it is not the oldest. Returns the id to use.

        ``final``: the run decides for good now. Keeping its own copy is final only once the second of its
        ``created-at`` is over on the server's clock: ``created-at`` counts whole seconds, so a copy made later in
        that second (by a run that listed before this one's existed) may have a smaller id and count as older;
        its maker would keep it while this run had already left with its own."""
        for dummy in range(SECOND_OVER_ROUNDS):
            same_name = self.dated(client, self.named(client, name))
            own = next((r for r in same_name if r.get("id") == own_id), None)
            if own is None:
                return own_id
            keeper = oldest_of(same_name)["id"]
            if keeper != own_id:
                self.delete(client, own_id, deadline)
                return keeper
            created = timestamp(own.get("created-at"))
            if not final or created is None or server_time(client) >= created + 1 or deadline.remaining() < 1:
                return own_id
            client.sleep(SECOND_OVER_STEP)  # the Date header counts whole seconds: look again until it moves on
        return own_id

    def delete(self, client, resource_id, deadline):
        """Delete; a resource that is already gone counts as deleted."""
        try:
            client.operation("DELETE", self.item_path(resource_id), deadline=deadline, retry_writes=True,
                             retry_conflict=self.busy_conflicts)
        except ExoscaleError as exc:
            if exc.status != 404:
                raise

    def is_ready(self, resource):
        return not self.ready or (resource or {}).get("state") in self.ready

    def is_failed(self, resource):
        return (resource or {}).get("state") in self.failed

    def wait_ready(self, client, resource_id, deadline, history=None, failure=None):
        """Poll until ready; stop at once on a failed state (``failure(resource)`` builds the error).

        Returns ``(resource, polls)``."""
        def done(resource):
            if resource is None:
                raise ResourceFailed("%s %s disappeared while waiting for it to become ready."
                                     % (self.title, resource_id))
            if self.is_failed(resource):
                raise failure(resource) if failure else ResourceFailed(
                    "%s %s is in state %s." % (self.title, resource_id, resource.get("state")),
                    resource=resource)
            return self.is_ready(resource)
        return wait_for(client, lambda: self.get(client, resource_id), done, deadline,
                        lambda r: "%s %s to become ready (last state: %s)" % (self.kind, resource_id, (r or {}).get("state")),
                        history, self.kind)

    def wait_gone(self, client, resource_id, deadline):
        return wait_for(client, lambda: self.get(client, resource_id), lambda r: r is None, deadline,
                        lambda r: "%s %s to be deleted (last state: %s)" % (self.kind, resource_id, (r or {}).get("state")))


# The options the driver itself relies on (doc fragments inferops.exoscale.identity and inferops.exoscale.state);
# the identity option itself (name) is a Field.
IDENTITY_SPEC = dict(id=dict(type="str"))
STATE_SPEC = dict(state=dict(type="str", default="present", choices=["present", "absent"]),
                  recreate=dict(type="bool", default=False))
# The plan's actions.
ACTIONS = ("create", "update", "replace", "delete", "none")  # plus the name of each field Action (scale)


class Plan:
    """What a task will do, computed from reads alone; check mode returns it, a run applies exactly it.

    ``action``: create, update, replace, delete, none, or a field ``Action``'s name (scale). ``changes``:
    ``{option: (current, wanted)}`` (the reasons); ``patch``: the PATCH body; ``steps``: ``[(Action, body)]``;
    ``body``: the create body; ``context``: what the module's ``preflight`` returned (a resolved model, GPU
    and quota figures, cost); ``warnings``: said when the plan was made.
    """

    REPORTED = ("gpus", "quota", "cost", "fit", "placement")  # context keys that the plan dict carries

    def __init__(self, action, current=None, wanted=None, changes=None):
        self.action = action
        self.current = current
        self.wanted = wanted or {}
        self.changes = changes or {}
        self.patch = {}
        self.steps = []
        self.body = {}
        self.context = {}
        self.warnings = []
        self.refusal = None
        self.wait_first = False  # wait for the busy resource before the write (with no write: only with wait=true)

    @property
    def writes(self):
        return self.action != "none"

    def as_dict(self):
        """The plan as the result's ``plan`` (JSON-serialisable; never a secret: create-only fields are left out)."""
        shown = dict(action=self.action, id=(self.current or {}).get("id"),
                     reasons=[dict(field=option, old=old, new=new) for option, (old, new) in sorted(self.changes.items())],
                     warnings=list(self.warnings))
        if self.refusal:
            shown["refusal"] = self.refusal
        shown.update((key, self.context[key]) for key in self.REPORTED if self.context.get(key) is not None)
        return shown


class ResourceModule:
    """The driver every resource module runs. Subclasses set ``resource`` and override the hooks.

    Hooks (each returns a value; none sets attributes of the driver or changes its arguments):
    ``validate()`` raises Refused; ``wanted(current)`` gives ``{option: value}``; ``defaults(action, current)``
    the values an unset option takes on create/replace; ``preflight(plan)`` raises Refused, calls ``self.warn``
    and returns the plan's context; ``prepare(plan)`` runs in a real run before the first write (wait for a
    dependency); ``create_body(plan)``, ``predict(plan)``, ``view(resource)``, ``failure(resource)``,
    ``delete(resource)``.
    """

    resource = None
    options = {}  # the module's options besides the fields, identity, state and wait
    module_kwargs = {}
    wait_timeout = None  # the wait options' default timeout; None: the module has no wait options
    lost_answer_warning = None  # a create answered with the object was adopted: what the user cannot get back

    def __init__(self, params=None, check_mode=False, client=None, warn=None):
        """Without ``params``, an AnsibleModule parses the task's arguments; with them (tests), none is built."""
        self.module = None
        if params is None:
            self.module = exoscale_module(self.argument_spec(), required_one_of=[("name", "id")], **self.module_kwargs)
            params, check_mode = self.module.params, self.module.check_mode
        self.params = params
        self.check_mode = check_mode
        self.client = client
        self._warn = warn or (self.module.warn if self.module else (lambda message: None))
        self.wait = self.params.get("wait", False)
        self.deadline = Deadline(self.params.get("wait_timeout"))
        self.history = []
        self.warnings = []
        self.wrote = False

    @classmethod
    def argument_spec(cls):
        """Each option declared once: identity and state (driver), the fields, the module's own, the wait options."""
        spec = dict(IDENTITY_SPEC, **STATE_SPEC)
        spec.update((f.option, dict(f.spec)) for f in cls.resource.fields)
        spec.update(cls.options)
        if cls.wait_timeout:
            spec.update(wait_options(cls.wait_timeout))
        return spec

    def warn(self, message):
        """A warning of the plan: returned with the result, and shown at once while the task runs (live progress)."""
        if message not in self.warnings:
            self.warnings.append(message)
            self._warn(message)
            progress.report(self.resource.kind, self.params.get("name"), "plan", self.deadline.elapsed(),
                            warning=message)

    def reference(self, resource, ref, option, full=True):
        """The ``resource`` that ``ref`` (a name or an id) names, for ``option``. In check mode a missing one is
        predicted (an earlier task of the play would create it), with a warning; in a run it is refused."""
        found = resource.resolve(self.client, ref, full=full)
        if found is None and self.check_mode:
            self.warn("%s %r does not exist yet; the result is predicted as if an earlier task created it."
                      % (resource.kind, ref))
            by_id = UUID_PATTERN.match(ref)
            return {"id": ref if by_id else None, "name": None if by_id else ref}
        if found is None:
            raise Refused("%s: %s %r does not exist in this zone; give the name or id of an existing one, or create it"
                          " first with inferops.exoscale.ai_%s." % (option, resource.kind, ref, resource.kind))
        return found

    def usable(self, resource, ref, option, failed_message):
        """The ``resource`` that ``ref`` names for ``option``, as this one needs it: one in a failed state is refused
        (``failed_message(found)``), one not ready yet too unless the task waits (a run waits for it in ``prepare``)."""
        found = self.reference(resource, ref, option)
        if not found.get("id"):
            return dict(found, state=resource.ready[0])  # predicted in check mode
        if resource.is_failed(found):
            raise Refused(failed_message(found))
        if not resource.is_ready(found) and not self.wait:
            raise Refused("%s %r is %s, not ready; run with wait=true to wait for it." % (option, ref, found.get("state")))
        return found

    # Hooks -----------------------------------------------------------------------------------

    def validate(self):
        """Input checks that need no request; raise Refused."""
        if self.params.get("name") is not None and not self.params["name"].strip():
            raise Refused("name must not be empty.")
        timeout = self.params.get("wait_timeout")
        if timeout is not None and timeout <= 0:
            raise Refused("wait_timeout must be a positive number of seconds, got %d." % timeout)
        for f in self.resource.fields:
            problem = f.problem(self.params.get(f.option))
            if problem:
                raise Refused(problem)

    def wanted(self, current):
        """``{option: wanted value}`` for the options given (None = leave as it is)."""
        return dict((f.option, self.params.get(f.option)) for f in self.resource.fields)

    def defaults(self, action, current):
        """``{option: value}`` for options not given when the plan creates (``current`` None) or replaces."""
        return {}

    def preflight(self, plan):
        """Checks of a plan that writes (reads only; check mode too): raise Refused, warn; return the context."""
        return {}

    def prepare(self, plan):
        """A real run's last step before its first write (the plan is final)."""

    def failure(self, resource):
        """The error for a resource in a failed state."""
        return ResourceFailed("%s %r (id %s) is in state %s." % (
            self.resource.title, resource.get("name"), resource.get("id"), resource.get("state")), resource=resource)

    def create_body(self, plan):
        return dict((f.api_key, f.to_api(plan.wanted[f.option])) for f in self.resource.fields
                    if f.create and plan.wanted.get(f.option) is not None)

    def view(self, resource):
        """What the diff shows: the compared fields and the state."""
        if not resource:
            return {"state": "absent"}
        shown = dict((f.option, f.raw(resource)) for f in self.resource.fields if f.change != CREATE_ONLY)
        if resource.get("state") is not None or self.resource.ready:
            shown["state"] = resource.get("state")
        return shown

    def find(self):
        identity, resource_id = self.params.get(self.resource.identity), self.params.get("id")
        found = self.resource.find(self.client, name=identity, resource_id=resource_id, deadline=self.deadline,
                                   warn=self.warn)
        if found and resource_id and identity and found.get(self.resource.identity) != identity and not self.resource.renamable:
            raise Refused("%s id %s is named %r, not %r." % (
                self.resource.title, resource_id, found.get(self.resource.identity), identity))
        return found

    def delete(self, resource):
        self.resource.delete(self.client, resource["id"], self.deadline)

    def replacement_note(self):
        return ""

    def predict(self, plan):
        """What a check run says the resource would be."""
        if plan.action == "delete" or plan.current is None and plan.action == "none":
            return None
        if plan.action in ("create", "replace"):
            secret = [f.api_key for f in self.resource.fields if f.change == CREATE_ONLY]
            predicted = dict((k, v) for k, v in plan.body.items() if k not in secret)
            if self.resource.busy:
                predicted["state"] = self.resource.ready[0] if self.wait else self.resource.busy[0]
            return predicted
        predicted = dict(plan.current, **plan.patch)
        for dummy, body in plan.steps:
            predicted.update(body)
        return predicted

    # Plan ------------------------------------------------------------------------------------

    def plan(self, current):
        """The plan for ``current`` (None: absent), from reads alone; raises Refused with the plan attached."""
        plan = self.decide(current)
        if plan.action in ("create", "replace"):
            missing = [f.option for f in self.resource.fields if f.required and plan.wanted.get(f.option) is None]
            if missing:
                raise Refused("To create %s %r, set %s." % (self.resource.kind, plan.wanted.get("name") or self.params.get("id"),
                                                            ", ".join(missing)))
        if plan.writes:
            plan.context = self.preflight(plan) or {}
        if plan.action in ("create", "replace"):
            plan.body = self.create_body(plan)
        plan.warnings = self.warnings
        return plan

    def decide(self, current):
        """The action and its reasons: absent/present, changes, immutable ones, failed state."""
        if self.params.get("state", "present") == "absent":
            return Plan("delete" if current else "none", current)
        if current is None:
            if self.params.get("id"):
                raise Refused("No %s with id %s exists; to create one, give name without id."
                              % (self.resource.kind, self.params["id"]))
            wanted = self.wanted(None)
            wanted.update((option, value) for option, value in self.defaults("create", None).items()
                          if wanted.get(option) is None)
            shown = [f.option for f in self.resource.fields if f.change != CREATE_ONLY and wanted.get(f.option) is not None]
            return Plan("create", None, wanted, dict((option, (None, wanted[option])) for option in shown))
        wanted = self.wanted(current)
        changes = self.changes(current, wanted)
        immutable = sorted(option for option in changes if self.resource.field(option).change == IMMUTABLE)
        if self.resource.is_failed(current) or immutable:
            if not self.params.get("recreate"):
                if immutable:
                    raise Refused("%s %r cannot change %s in place (%s). Set recreate=true to replace it%s."
                                  % (self.resource.title, current.get("name"), ", ".join(immutable),
                                     "; ".join("%s: %s -> %s" % (o, changes[o][0], changes[o][1]) for o in immutable),
                                     self.replacement_note()))
                raise self.failure(current)
            for f in self.resource.fields:
                if wanted.get(f.option) is None and f.change != CREATE_ONLY:
                    wanted[f.option] = f.read(current)
            wanted.update((option, value) for option, value in self.defaults("replace", current).items()
                          if self.params.get(option) is None)
            if self.resource.is_failed(current):
                changes = dict(changes, state=(current.get("state"), self.resource.ready[0]))
            return Plan("replace", current, wanted, changes)
        plan = Plan("none", current, wanted, changes)
        for option, (dummy, value) in sorted(changes.items()):
            f = self.resource.field(option)
            if isinstance(f.change, Action):
                plan.steps.append((f.change, {f.api_key: f.to_api(value)}))
            elif f.change == PATCH:
                plan.patch[f.api_key] = f.to_api(value)
        if plan.patch or plan.steps:
            plan.action = "update" if plan.patch else plan.steps[0][0].name
        # A write waits for a busy resource first; with nothing to write, only wait=true waits (as check mode says).
        plan.wait_first = bool(plan.writes and self.resource.busy and current.get("state") in self.resource.busy) or (
            not plan.writes and self.wait and not self.resource.is_ready(current))
        return plan

    def changes(self, current, wanted):
        """``{option: (current, wanted)}`` for the fields given that differ. Unknown current values never count."""
        found = {}
        for f in self.resource.fields:
            value = wanted.get(f.option)
            if f.change == CREATE_ONLY or value is None or (f.option == self.resource.identity and not self.params.get("id")):
                continue  # looked up by name, the name is the identity, not a change
            if not f.matches(current, value):
                found[f.option] = (f.read(current), value)
        return found

    # Driver ----------------------------------------------------------------------------------

    def run(self):
        current, plan = None, None
        try:
            self.validate()
            self.client = client_from_module(self.module)
            current = self.find()
            plan = self.plan(current)
            after = self.predict(plan) if self.check_mode else self.apply(plan)
        except (Refused, AmbiguousName) as exc:
            self.fail(str(exc), current, plan, refusal=str(exc), **getattr(exc, "details", {}))
        except (ResourceFailed, ResourceWaitTimeout) as exc:
            self.fail(str(exc), exc.resource or current, plan, waited=True,
                      **(dict(diagnosis=exc.diagnosis) if exc.diagnosis else {}))
        except ExoscaleError as exc:
            self.fail(str(exc), current, plan, api_error=exc.details())
        self.exit(plan, after)

    def result(self, plan, resource, waited=False, failed=False):
        # A failed task changed something only if it wrote; a check run's prediction is no write.
        result = dict(changed=self.wrote if failed else bool(plan and plan.writes) or self.wrote)
        result[self.resource.kind] = to_snake(resource or {})
        result["action"] = plan.action if plan else "none"
        if plan is not None:
            result["plan"] = plan.as_dict()
        if result["changed"] or waited or self.wait:
            result["duration"] = round(self.deadline.elapsed(), 2)
        if self.history or self.wait_timeout:
            result["state_history"] = self.history  # [] when the task did not wait
        return result

    def fail(self, message, resource, plan, waited=False, refusal=None, **extra):
        if plan is None and refusal:
            plan = Plan("none", resource)
            plan.warnings = self.warnings
        if plan is not None and refusal:
            plan.refusal = refusal
        result = self.result(plan, resource, waited, failed=True)
        result.update(extra)
        self.module.fail_json(msg=message, **result)

    def exit(self, plan, after):
        before = plan.current
        result = self.result(plan, before if plan.action == "delete" else after)
        result.update(plan.context.get("result") or {})
        result["diff"] = dict(before=self.view(before), after=self.view(after))
        if plan.action == "replace":
            result["diff"]["before"]["id"] = before["id"]
            result["diff"]["after"]["id"] = (after or {}).get("id") or "(new)"
        self.module.exit_json(**result)

    # Apply -----------------------------------------------------------------------------------

    def apply(self, plan):
        """Do exactly what ``plan`` says; returns the resource after it (None when deleted)."""
        current = plan.current
        if plan.action == "none":
            return self.wait_ready(current["id"]) if plan.wait_first else current
        if plan.action == "delete":
            self.write(lambda: self.delete(current))
            if self.wait and self.resource.lingers:
                self.resource.wait_gone(self.client, current["id"], self.deadline)
            return None
        self.prepare(plan)
        if plan.action == "create":
            return self.create(plan)
        if plan.action == "replace":
            self.write(lambda: self.delete(current))
            if self.resource.lingers:
                self.resource.wait_gone(self.client, current["id"], self.deadline)
            return self.create(plan)
        return self.update(plan)

    def create(self, plan):
        body = plan.body
        resource, created = self.write(lambda: self.resource.create(self.client, body, self.deadline))
        if self.resource.creates == OBJECT:
            if created:
                plan.context["result"] = self.created(resource)
            elif self.lost_answer_warning:
                self.warn(self.lost_answer_warning)
        resource_id = resource["id"]
        waits_for_ready = self.wait and self.resource.ready
        if created:  # a run that waits for readiness checks again after its wait (wait_kept): final then
            resource_id = self.resource.keep_oldest(self.client, body["name"], resource_id, self.deadline,
                                                    final=not waits_for_ready)
        if waits_for_ready:
            return self.wait_kept(body["name"], resource["id"] if created else None, resource_id)
        if self.resource.creates == OBJECT and resource_id == resource["id"]:
            return resource
        return self.resource.get(self.client, resource_id) or {"id": resource_id, "name": body["name"]}

    def wait_kept(self, name, own_id, resource_id, rounds=4):
        """Wait until the one that concurrent creators keep is ready; ``own_id``: the copy this run created.

        Which one is kept can change while it waits: a copy created in the same second with a smaller id counts
        as older, so its creator keeps it and the creator of the one this run waited for deletes that. Follow
        the survivor when the awaited one disappears, and check the name once more after the wait (never
        deleting another run's copy)."""
        for dummy in range(rounds):
            try:
                after = self.wait_ready(resource_id)
            except ResourceFailed as exc:
                if exc.resource is not None or own_id is None:
                    raise
                survivor = self.resource.only_named(self.client, name, self.deadline, self.warn)
                if survivor is None or survivor["id"] == resource_id:
                    raise
                resource_id = survivor["id"]
                continue
            if own_id is None:
                return after
            if resource_id == own_id:
                kept = self.resource.keep_oldest(self.client, name, own_id, self.deadline)
            else:  # what every creator keeps, whatever state the others' copies are in
                kept = oldest_of(self.resource.dated(self.client, self.resource.named(self.client, name)) or [after])["id"]
            if kept == resource_id:
                return after
            resource_id = kept
        return self.wait_ready(resource_id)

    def created(self, resource):
        """A synchronous create answered with the resource: result keys of values it returns only once."""
        return {}

    def update(self, plan):
        resource_id = plan.current["id"]
        if plan.wait_first:
            self.wait_ready(resource_id)
        path = self.resource.item_path(resource_id)
        if plan.patch:
            self.write(lambda: self.client.operation("PATCH", path, body=plan.patch, deadline=self.deadline,
                                                     retry_writes=True, retry_conflict=True))
        for number, (step, body) in enumerate(plan.steps):
            if plan.patch or number:
                self.wait_ready(resource_id)
            self.write(lambda: self.client.operation("POST", "%s/%s" % (path, step.name), body=body,
                                                     deadline=self.deadline, retry_writes=True, retry_conflict=True))
        if self.wait:
            return self.wait_ready(resource_id)
        return self.resource.get(self.client, resource_id) or plan.current

    def write(self, send):
        """Send one write; from here on the task has changed something, even if it then fails."""
        try:
            answer = send()
        except ExoscaleError as exc:
            if exc.uncertain or exc.operation_id:
                self.wrote = True
            if exc.status in self.resource.hints:
                exc.message = exc.args[0] + self.resource.hints[exc.status]
                exc.args = (exc.message,)
            raise
        self.wrote = True
        return answer

    def wait_ready(self, resource_id):
        return self.resource.wait_ready(self.client, resource_id, self.deadline, self.history, self.failure)[0]
