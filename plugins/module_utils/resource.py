# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The declarative resource layer: a resource is declared once, one driver runs every resource module.

A ``Resource`` names its API path, its list key, its ``Field``s (option, API key, sent on create, how it
changes in place) and its states (ready, failed, busy). ``ResourceModule`` is the driver: find (by id or by
name, ambiguity refused) -> absent / present -> preflight -> predict in check mode -> diff -> write ->
wait -> result. Modules subclass it to declare their resource and their special steps.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils import progress
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError, api_path
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName, pick_one, to_snake
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import client_from_module, exoscale_module
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import (
    Deadline,
    READINESS_SCHEDULE,
    WaitTimeout,
    wait_until,
)

# How a field changes on an existing resource.
IMMUTABLE = "immutable"  # a different value needs a new resource (recreate)
PATCH = "patch"          # PATCH <path>/<id>
SCALE = "scale"          # POST <path>/<id>/scale
CREATE_ONLY = "create-only"  # sent on create, never read back or compared (secrets such as a token)

# What a create answers.
OPERATION = "operation"  # an Operation whose reference.id is the new resource
OBJECT = "object"        # the resource itself, synchronously

# After a create timed out (the server may still be working on it), look for the resource this many
# api_timeouts before sending the create again.
IN_FLIGHT_GRACE_FACTOR = 2


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
                 required=False, matches=None):
        self.option = option
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
                 hints=None):
        self.kind = kind  # the result key of the resource module
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

    def find(self, client, name=None, resource_id=None):
        """By id (one GET), or the only one named ``name`` (list, then GET when the list is thin); None when absent."""
        if resource_id:
            return self.get(client, resource_id)
        match = pick_one(self.list(client), self.kind, name=name)
        return self.get(client, match["id"]) if match and self.get_after_list else match

    def select(self, client, name=None, resource_id=None, visibility="private"):
        """What an info module lists: all, those named ``name`` (full objects), or the one with ``resource_id``."""
        if resource_id:
            found = self.get(client, resource_id)
            return [found] if found and name in (None, found.get("name")) else []
        items = self.list(client, visibility)
        if name is None:
            return items
        return [(self.get(client, i["id"]) or i) if self.get_after_list else i for i in items if i.get("name") == name]

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
            return pick_one(self.list(client), self.kind, name=name)
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

    def keep_oldest(self, client, name, own_id, deadline):
        """Two runs that both found nothing both created: every such run keeps the oldest of that name
        and deletes only its own when it is not the oldest. Returns the id to use."""
        same_name = self.named(client, name)
        if len(same_name) < 2 or own_id not in [r.get("id") for r in same_name]:
            return own_id
        keeper = oldest_of(same_name)["id"]
        if keeper != own_id:
            self.delete(client, own_id, deadline)
        return keeper

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


class ResourceModule:
    """The driver every resource module runs. Subclasses set ``resource`` and override the hooks."""

    resource = None
    options = {}
    module_kwargs = {}

    def __init__(self):
        options = dict(self.options)
        self.module = exoscale_module(options, required_one_of=[("name", "id")], **self.module_kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.wait = self.params.get("wait", False)
        self.deadline = Deadline(self.params.get("wait_timeout"))
        self.history = []
        self.wrote = False
        self.changed = False
        self.extra = {}  # more result keys (a value returned once, a diagnosis...)
        self.client = None
        self.replaced = None  # the resource a replacement deletes

    # Hooks -----------------------------------------------------------------------------------

    def validate(self):
        """Input checks that need no request; raise Refused."""
        if self.params.get("name") is not None and not self.params["name"].strip():
            raise Refused("name must not be empty.")
        timeout = self.params.get("wait_timeout")
        if timeout is not None and timeout <= 0:
            raise Refused("wait_timeout must be a positive number of seconds, got %d." % timeout)

    def wanted(self, current):
        """``{option: wanted value}`` for the options given (None = leave as it is)."""
        return dict((f.option, self.params.get(f.option)) for f in self.resource.fields)

    def preflight(self, action, current, wanted):
        """Checks before a write (``action``: create, update, replace); raise Refused. Runs in check mode too."""

    def failure(self, resource):
        """The error for a resource in a failed state."""
        return ResourceFailed("%s %r (id %s) is in state %s." % (
            self.resource.title, resource.get("name"), resource.get("id"), resource.get("state")), resource=resource)

    def create_body(self, wanted):
        return dict((f.api_key, f.to_api(wanted[f.option])) for f in self.resource.fields
                    if f.create and wanted.get(f.option) is not None)

    def view(self, resource):
        """What the diff shows: the compared fields and the state."""
        if not resource:
            return {"state": "absent"}
        shown = dict((f.option, f.raw(resource)) for f in self.resource.fields if f.change != CREATE_ONLY)
        if resource.get("state") is not None or self.resource.ready:
            shown["state"] = resource.get("state")
        return shown

    def find(self):
        name, resource_id = self.params["name"], self.params.get("id")
        found = self.resource.find(self.client, name=name, resource_id=resource_id)
        renames = any(f.option == "name" and f.change == PATCH for f in self.resource.fields)
        if found and resource_id and name and found.get("name") != name and not renames:
            raise Refused("%s id %s is named %r, not %r." % (self.resource.title, resource_id, found.get("name"), name))
        return found

    # Driver ----------------------------------------------------------------------------------

    def run(self):
        current = None
        try:
            self.validate()
            self.client = client_from_module(self.module)
            current = self.find()
            if self.params.get("state", "present") == "absent":
                after = self.ensure_absent(current)
            else:
                after = self.ensure_present(current)
        except (Refused, AmbiguousName) as exc:
            self.fail(str(exc), current, **getattr(exc, "details", {}))
        except (ResourceFailed, ResourceWaitTimeout) as exc:
            if exc.diagnosis:
                self.extra["diagnosis"] = exc.diagnosis
            self.fail(str(exc), exc.resource or current, waited=True)
        except ExoscaleError as exc:
            self.fail(str(exc), current, api_error=exc.details())
        self.exit(current, after)

    def result(self, resource, waited=False, failed=False):
        # A failed task changed something only if it wrote; a check run's prediction is no write.
        result = dict(changed=self.wrote if failed else self.changed or self.wrote, **self.extra)
        result[self.resource.kind] = to_snake(resource or {})
        if self.changed or self.wrote or waited or self.wait:
            result["duration"] = round(self.deadline.elapsed(), 2)
        if self.history:
            result["state_history"] = self.history
        return result

    def fail(self, message, resource, waited=False, **extra):
        result = self.result(resource, waited, failed=True)
        result.update(extra)
        self.module.fail_json(msg=message, **result)

    def exit(self, before, after):
        absent = self.params.get("state", "present") == "absent"
        result = self.result(None if absent and not before else (before if absent else after))
        result["diff"] = dict(before=self.view(before), after={"state": "absent"} if absent else self.view(after))
        if self.replaced is not None:
            result["diff"]["before"]["id"] = self.replaced["id"]
            result["diff"]["after"]["id"] = (after or {}).get("id") or "(new)"
        self.module.exit_json(**result)

    def ensure_absent(self, current):
        if current is None:
            return None
        self.changed = True
        if not self.check_mode:
            self.write(lambda: self.delete(current))
            if self.wait and self.resource.lingers:
                self.resource.wait_gone(self.client, current["id"], self.deadline)
        return None

    def delete(self, resource):
        self.resource.delete(self.client, resource["id"], self.deadline)

    def ensure_present(self, current):
        if current is None:
            if self.params.get("id"):
                raise Refused("No %s with id %s exists; to create one, give name without id."
                              % (self.resource.kind, self.params["id"]))
            return self.create(self.wanted(None))
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
            return self.replace(current, wanted)
        if not changes:
            if self.wait and not self.check_mode and not self.resource.is_ready(current):
                current = self.wait_ready(current["id"])
            return current
        return self.update(current, wanted, changes)

    def replacement_note(self):
        return ""

    def changes(self, current, wanted):
        """``{option: (current, wanted)}`` for the fields given that differ. Unknown current values never count."""
        found = {}
        for f in self.resource.fields:
            value = wanted.get(f.option)
            if f.change == CREATE_ONLY or value is None or (f.option == "name" and not self.params.get("id")):
                continue  # looked up by name, the name is the identity, not a change
            if not f.matches(current, value):
                found[f.option] = (f.read(current), value)
        return found

    def create(self, wanted, before_write=None):
        missing = [f.option for f in self.resource.fields if f.required and wanted.get(f.option) is None]
        if missing:
            raise Refused("To create %s %r, set %s." % (self.resource.kind, wanted.get("name") or self.params.get("id"),
                                                        ", ".join(missing)))
        self.preflight("replace" if before_write else "create", self.replaced, wanted)
        body = self.create_body(wanted)
        self.changed = True
        if self.check_mode:
            secret = [f.api_key for f in self.resource.fields if f.change == CREATE_ONLY]
            return self.predict({}, dict((k, v) for k, v in body.items() if k not in secret))
        if before_write:
            before_write()
        resource, created = self.write(lambda: self.resource.create(self.client, body, self.deadline))
        if created and self.resource.creates == OBJECT:
            self.created(resource)
        resource_id = resource["id"]
        if created:
            resource_id = self.resource.keep_oldest(self.client, body["name"], resource_id, self.deadline)
        if self.wait and self.resource.ready:
            after = self.wait_ready(resource_id)
            if created:
                # A concurrent run may have created one too while this one waited: both keep the oldest.
                kept = self.resource.keep_oldest(self.client, body["name"], resource_id, self.deadline)
                if kept != resource_id:
                    after = self.wait_ready(kept)
            return after
        if self.resource.creates == OBJECT and resource_id == resource["id"]:
            return resource
        return self.resource.get(self.client, resource_id) or {"id": resource_id, "name": body["name"]}

    def created(self, resource):
        """A synchronous create answered with the resource (values it returns only once are read here)."""

    def replace(self, current, wanted):
        """Delete, wait until gone, create again; the new settings are checked first."""
        self.replaced = current
        for f in self.resource.fields:
            if wanted.get(f.option) is None and f.change != CREATE_ONLY:
                wanted[f.option] = f.read(current)

        def delete_old():
            self.write(lambda: self.delete(current))
            if self.resource.lingers:
                self.resource.wait_gone(self.client, current["id"], self.deadline)
        self.warn_replacement(current)
        return self.create(wanted, before_write=delete_old)

    def warn_replacement(self, current):
        """Say what a replacement loses (in check mode too)."""

    def update(self, current, wanted, changes):
        self.preflight("update", current, wanted)
        patch = dict((self.resource.field(o).api_key, self.resource.field(o).to_api(w)) for o, (c, w) in changes.items()
                     if self.resource.field(o).change == PATCH)
        scale = [w for o, (c, w) in changes.items() if self.resource.field(o).change == SCALE]
        self.changed = True
        if self.check_mode:
            return self.predict(current, dict(patch, **dict(("replicas", w) for w in scale)))
        if self.resource.busy and current.get("state") in self.resource.busy:
            self.wait_ready(current["id"])
        path = self.resource.item_path(current["id"])
        if patch:
            self.write(lambda: self.client.operation("PATCH", path, body=patch, deadline=self.deadline,
                                                     retry_writes=True, retry_conflict=True))
        if scale:
            if patch:
                self.wait_ready(current["id"])
            self.write(lambda: self.client.operation("POST", path + "/scale", body={"replicas": scale[0]},
                                                     deadline=self.deadline, retry_writes=True, retry_conflict=True))
        if self.wait:
            return self.wait_ready(current["id"])
        return self.resource.get(self.client, current["id"]) or current

    def predict(self, current, body):
        """What a check run says the resource would be."""
        predicted = dict(current, **body)
        if not current:
            predicted["state"] = (self.resource.ready[0] if self.wait else self.resource.busy[0]) if self.resource.busy else None
        return predicted

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
        try:
            return self.resource.wait_ready(self.client, resource_id, self.deadline, self.history, self.failure)[0]
        except ResourceFailed as exc:
            # Runs that created the same name at once keep the oldest and delete their own copies (keep_oldest):
            # the copy this run found may be one of them. Then the one they keep is the one to wait for.
            name = self.params.get("name")
            if exc.resource is not None or not name or self.params.get("id"):
                raise
            kept = [r for r in self.resource.named(self.client, name) if r.get("id") != resource_id]
            if not kept:
                raise
            return self.resource.wait_ready(self.client, oldest_of(kept)["id"], self.deadline, self.history,
                                            self.failure)[0]
