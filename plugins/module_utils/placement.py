# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Placement: the first of a preference list of ``{zone, gpu_type, gpu_count}`` options that can take a deployment.

Every option is checked against data fetched before any write, with the preflight's own checks: the family is
offered in the option's zone and authorized there (each zone's ``GET /ai/instance-type``), the organization's
GPU quota of the family has room for ``gpu_count x replicas`` (quotas are the organization's, the same in every
zone), and the model fits the GPUs with its engine parameters (weights against GPU memory, KV cache against what
remains). ``choose`` keeps the first option that passes and, for every option before it, the reason it was
passed over with the numbers that decide it. The functions here are pure; ``gather`` does the fetching.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, gpu, preflight, resource
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleClient, ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.hub import weights as hub_weights
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ZONE_PATTERN, ConfigError, resolve_settings

OPTION_KEYS = ("zone", "gpu_type", "gpu_count")
# The argument spec of a ``placement`` option (ai_fleet's deployments; the same as ai_deployment's).
SPEC = dict(type="list", elements="dict", options=dict(
    zone=dict(type="str", required=True), gpu_type=dict(type="str", required=True), gpu_count=dict(type="int", required=True)))
MAX_GPU_COUNT = 8


def label(option):
    """``de-fra-1 gpu3 x2``: how reasons and messages name an option."""
    return "%s %s x%d" % (option["zone"], option["gpu_type"], option["gpu_count"])


def parse(placement):
    """Validate the ``placement`` option; return a list of ``{zone, gpu_type, gpu_count}`` (refuses before any request)."""
    if not isinstance(placement, list) or not placement:
        raise Refused("placement must be a non-empty list of {zone, gpu_type, gpu_count} options in order of preference.")
    options = []
    for index, entry in enumerate(placement):
        where = "placement[%d]" % index
        if not isinstance(entry, dict):
            raise Refused("%s must be a dict with zone, gpu_type and gpu_count, got %r." % (where, entry))
        unknown = sorted(set(entry) - set(OPTION_KEYS))
        missing = [key for key in OPTION_KEYS if entry.get(key) in (None, "")]
        if unknown or missing:
            problems = (["unknown key(s) %s" % ", ".join(unknown)] if unknown else []) + (
                ["missing %s" % ", ".join(missing)] if missing else [])
            raise Refused("%s: %s; each option has exactly zone, gpu_type and gpu_count." % (where, "; ".join(problems)))
        zone, family, count = str(entry["zone"]).strip(), str(entry["gpu_type"]).strip(), entry["gpu_count"]
        if not ZONE_PATTERN.fullmatch(zone):
            raise Refused("%s.zone %r is not a zone name: expected a name like ch-gva-2, de-fra-1 or at-vie-2." % (where, zone))
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise Refused("%s.gpu_count must be an integer between 1 and %d, got %r." % (where, MAX_GPU_COUNT, count))
        if isinstance(entry["gpu_count"], bool) or not 1 <= count <= MAX_GPU_COUNT:
            raise Refused("%s.gpu_count must be between 1 and %d, got %r." % (where, MAX_GPU_COUNT, entry["gpu_count"]))
        option = dict(zone=zone, gpu_type=family, gpu_count=count)
        if option in options:
            raise Refused("%s repeats placement[%d] (%s): list each option once." % (where, options.index(option), label(option)))
        options.append(option)
    return options


def zones(options):
    """The distinct zones of the options, in order of preference."""
    found = []
    for option in options:
        if option["zone"] not in found:
            found.append(option["zone"])
    return found


# ---------------------------------------------------------------------------------------------------------
# One reason per check: None when the option passes it

def family_reason(option, instance_types):
    """Offered in the option's zone and authorized there; ``instance_types`` is that zone's list (None: unknown)."""
    if instance_types is None:
        return None
    families = dict((entry.get("family"), entry.get("authorized")) for entry in instance_types)
    zone, family = option["zone"], option["gpu_type"]
    if family not in families:
        return "%s is not offered in %s (families there: %s)" % (family, zone, ", ".join(sorted(families)) or "none")
    if not families[family]:
        return "%s is not authorized for the organization in %s" % (family, zone)
    return None


def quota_reason(option, quota, replicas, freed=0, planned=0):
    """The organization's quota of the family has room for gpu_count x replicas (None quota or limit -1: no limit).

    ``planned``: GPUs of the family that the other actions of the same run add (a fleet's plan; negative: free)."""
    if not quota:
        return None
    limit, usage = quota.get("limit", -1), quota.get("usage", 0) or 0
    if limit is None or limit < 0:
        return None
    needed = option["gpu_count"] * replicas
    available = max(0, limit - usage - planned + freed)
    if needed <= available:
        return None
    return "quota %d, %d in use%s, %d needed (%d x %d replica(s))%s" % (
        limit, usage, ", %+d by the rest of the plan" % planned if planned else "", needed, option["gpu_count"], replicas,
        ", %d freed by the replaced deployment" % freed if freed else "")


def fit_reason(option, weights, parameters, config):
    """The weights fit the GPUs and the KV cache what remains (preflight.check_fit's figures); unknown size: passes."""
    if not weights:
        return None
    warnings = []
    try:
        figures = preflight.check_fit(option["gpu_type"], option["gpu_count"], weights, parameters, config, warnings.append)
    except Refused as exc:
        figures = exc.details
        return "weights %s do not fit %d x %s (%s each) x %s gpu-memory-utilization = %s" % (
            gpu.gibibytes(weights), option["gpu_count"], option["gpu_type"], gpu.gibibytes(figures["gpu_memory"]),
            figures["gpu_memory_utilization"], gpu.gibibytes(figures["budget"]))
    if figures and figures.get("kv_cache") and figures["kv_cache"] > figures["kv_cache_available"]:
        return "KV cache for --max-model-len %d needs %s, %s remain after the weights (largest length that fits: %d)" % (
            figures["max_model_len"], gpu.gibibytes(figures["kv_cache"]), gpu.gibibytes(max(figures["kv_cache_available"], 0)),
            max(figures["max_model_len_fits"] or 0, 0))
    return None


def assess(option, facts, skip=()):
    """The reason ``option`` cannot take the deployment, or None. ``facts`` as ``gather`` returns them."""
    skip = set(skip or ())
    reason = None
    if "gpu_type" not in skip:
        reason = family_reason(option, facts.get("instance_types", {}).get(option["zone"]))
    if reason is None and "quota" not in skip:
        reason = quota_reason(option, facts.get("quotas", {}).get(option["gpu_type"]), facts.get("replicas") or 1,
                              facts.get("freed", {}).get(option["gpu_type"], 0),
                              facts.get("planned", {}).get(option["gpu_type"], 0))
    if reason is None and "fit" not in skip:
        reason = fit_reason(option, facts.get("weights"), facts.get("parameters"), facts.get("config"))
    return reason


def passed(option, reason):
    return dict(option, reason="%s: %s" % (label(option), reason))


def choose(options, facts, skip=()):
    """``{chosen, passed_over}``: the first option that passes (None if none), and why each one before it did not."""
    passed_over = []
    for option in options:
        reason = assess(option, facts, skip)
        if reason is None:
            return dict(chosen=dict(option), passed_over=passed_over)
        passed_over.append(passed(option, reason))
    return dict(chosen=None, passed_over=passed_over)


def remaining(options, chosen):
    """The options after ``chosen`` (where a create that answered 412 moves on to)."""
    return options[options.index(chosen) + 1:]


def after_refusal(options, chosen, reason, facts, passed_over, skip=()):
    """The option to try once ``chosen`` could not take the deployment after all (``reason``: the create's 412), or
    None; ``passed_over`` gets the reason of ``chosen`` and of every option skipped on the way."""
    passed_over.append(passed(chosen, reason))
    for option in remaining(options, chosen):
        why = assess(option, facts or {}, skip)
        if why is None:
            return option
        passed_over.append(passed(option, why))
    return None


def refused_create(error, zone):
    """The reason a create's error moves placement on (a 412: not enough GPUs in ``zone``), or None."""
    if getattr(error, "status", None) != 412:
        return None
    return "the create answered 412 (not enough GPUs in %s): %s" % (zone, getattr(error, "api_message", None) or error)


def kept(options, deployment, zone):
    """``{chosen, passed_over}`` for a deployment that stays where it is (zone, its family and count).

    ``chosen`` is the listed option it runs on (None when it runs on none of the options of its zone, which needs
    a replacement); the options before it are passed over because the deployment already runs elsewhere.
    """
    here = dict(zone=zone, gpu_type=deployment.get("gpu-type"), gpu_count=deployment.get("gpu-count"))
    chosen = next((option for option in options if option == here), None)
    before = options[:options.index(chosen)] if chosen else [o for o in options if o["zone"] != zone]
    reason = "the deployment already runs on %s and stays there (placement_move: true moves it)" % (
        "%s %s x%s" % (zone, here["gpu_type"], here["gpu_count"]))
    return dict(chosen=dict(chosen) if chosen else None, passed_over=[passed(option, reason) for option in before])


def refusal(passed_over):
    """The message of a run where no option passes: every reason."""
    return ("placement: none of the %d option(s) can take the deployment: %s. Nothing was written."
            % (len(passed_over), "; ".join(entry["reason"] for entry in passed_over)))


# ---------------------------------------------------------------------------------------------------------
# Fetching the facts (each lookup at most once)

def gather(clients, options, replicas, parameters, weights=None, config=None, skip=(), warn=None):
    """The facts ``choose`` needs: each zone's instance types (one request per zone), the organization's GPU
    quotas (one request, from the first zone's endpoint: quotas are the organization's), the model's size and
    config.json as given. ``clients`` is ``{zone: client}``."""
    skip = set(skip or ())
    facts = dict(instance_types={}, quotas={}, replicas=replicas, parameters=parameters, weights=weights, config=config)
    if "gpu_type" not in skip:
        for zone in zones(options):
            facts["instance_types"][zone] = ai.list_instance_types(clients[zone])
    if "quota" not in skip:
        try:
            facts["quotas"] = ai.gpu_quota(clients[options[0]["zone"]])
        except ExoscaleError as exc:
            if warn:
                warn("placement: the GPU quotas could not be read (%s); options are not checked against them." % exc)
    return facts


def model_figures(hub_client, name, skip, warn):
    """``(weights size, config.json)`` of model ``name`` from the Hub (models do not exist yet in the zones not
    chosen), or ``(None, None)``; ``hub_client()`` builds the Hub client only when it is needed."""
    if "fit" in (skip or ()) or not name or resource.UUID_PATTERN.match(name):
        return None, None
    hub = hub_client()
    try:
        weights = hub_weights(hub.model_info(name))["size"]
    except ExoscaleError as exc:
        warn("placement: the size of %s could not be read from the Hub (%s); options are not checked"
             " for fit before the choice." % (name, exc))
        return None, None
    return weights, preflight.fetch_config(hub, name, warn)


# ---------------------------------------------------------------------------------------------------------
# The driver side: one client per zone, stickiness, the choice, and the create's 412

def zone_clients(module, names):
    """``{zone: ExoscaleClient}`` with the task's credentials and each zone's endpoint (settings.resolve_settings with
    the option's zone: ``{zone}`` in the API URL, else Exoscale's per-zone host). Refuses a URL that names one zone
    or none while the options span several: every option would act on the same endpoint."""
    clients = {}
    for zone in names:
        try:
            settings = resolve_settings(dict(module.params, zone=zone))
        except ConfigError as exc:
            raise Refused("placement zone %s: %s" % (zone, exc))
        if len(names) > 1 and any(warning.startswith("zone %s is not applied" % zone) for warning in settings["warnings"]):
            raise Refused("placement lists the zones %s, but the API URL %s names no zone and has no {zone} placeholder: every"
                          " option would act on the same endpoint. Put {zone} into api_url or EXOSCALE_API_ENDPOINT (for"
                          " example https://api-{zone}.exoscale.com/v2), or leave it unset." % (", ".join(names), settings["api_url"]))
        for warning in settings["warnings"] if not clients else ():
            module.warn(warning)
        module.no_log_values.add(settings["api_secret"])
        clients[zone] = ExoscaleClient(settings["api_key"], settings["api_secret"], settings["api_url"],
                                       timeout=settings["timeout"], validate_certs=settings["validate_certs"])
    return clients


class Placer:
    """Placement for the deployment module: finds the deployment in every zone of the list (one list per zone), keeps
    it where it is (or moves it with ``placement_move``), else chooses the first option that passes; a create that
    answers 412 moves on to the next option that passes. ``owner`` is the DeploymentModule; ``result`` is what the
    task returns under ``placement``."""

    def __init__(self, owner):
        self.owner = owner
        params = owner.params
        self.options = parse(params["placement"])
        self.move = params.get("placement_move")
        self.clients = {}
        self.facts = None
        self.result = dict(chosen=None, passed_over=[])
        self.moving = None  # (zone, deployment) that a move deletes once the new one is ready
        self.checked = []   # the preflight checks placement already ran for the chosen option
        self.fallback = False

    def use(self, option):
        """Act on ``option``: its zone's client and its family and count as the task's options."""
        self.owner.client = self.clients[option["zone"]]
        self.owner.params.update(gpu_type=option["gpu_type"], gpu_count=option["gpu_count"])
        self.result["chosen"] = dict(option)

    def find(self, lookup):
        """The deployment (or None) in the client the task then acts on; ``lookup(client)`` finds it in one zone."""
        owner = self.owner
        if owner.params.get("zone"):
            owner.module.warn("zone %s is not applied: placement decides the zone." % owner.params["zone"])
        names = zones(self.options)
        self.clients = zone_clients(owner.module, names)
        found = [(zone, deployment) for zone, deployment in ((zone, lookup(self.clients[zone])) for zone in names) if deployment]
        if len(found) > 1:
            raise Refused("Deployment %r exists in several zones of placement: %s. Delete the ones you do not want (state=absent"
                          " with that zone), then run again." % (owner.params.get("name"), ", ".join(
                              "%s (id %s)" % (zone, deployment.get("id")) for zone, deployment in found)),
                          details=dict(placement=self.result))
        absent = owner.params.get("state") == "absent"
        if found:
            zone, deployment = found[0]
            owner.client = self.clients[zone]
            if absent:
                self.result["chosen"] = dict(zone=zone, gpu_type=deployment.get("gpu-type"), gpu_count=deployment.get("gpu-count"))
                return deployment
            if self.move:
                choice = self.choose(owner)
                if choice["chosen"] and choice["chosen"] != dict(zone=zone, gpu_type=deployment.get("gpu-type"),
                                                                 gpu_count=deployment.get("gpu-count")):
                    self.moving = (zone, deployment)
                    self.result["moved_from"] = dict(zone=zone, id=deployment.get("id"), gpu_type=deployment.get("gpu-type"),
                                                     gpu_count=deployment.get("gpu-count"))
                    self.use(choice["chosen"])
                    return None
            self.result.update(kept(self.options, deployment, zone))
            here = self.result["chosen"] or next(option for option in self.options if option["zone"] == zone)
            owner.params.update(gpu_type=here["gpu_type"], gpu_count=here["gpu_count"])
            return deployment
        if absent:
            return None
        choice = self.choose(owner)
        if choice["chosen"] is None:
            raise Refused(refusal(self.result["passed_over"]), details=dict(placement=self.result))
        self.use(choice["chosen"])
        return None

    def choose(self, owner):
        skip = owner.params.get("preflight_skip") or []
        weights, config = self.model_figures(owner, skip)
        self.facts = gather(self.clients, self.options, owner.params.get("replicas") or 1,
                            owner.params.get("inference_engine_parameters"), weights, config, skip, owner.module.warn)
        choice = choose(self.options, self.facts, skip)
        self.result["passed_over"] = choice["passed_over"]
        self.checked = ["gpu_type", "quota"]
        return choice

    @staticmethod
    def model_figures(owner, skip):
        return model_figures(owner.hub, owner.params.get("model"), skip, owner.module.warn)

    def attempt(self, attempt):
        """``(created, None)``, or ``(None, reason)`` when the chosen option cannot take it after all: the create
        answered 412, or (for an option after such a 412) the preflight refused it in that zone."""
        try:
            return attempt(), None
        except ExoscaleError as exc:
            reason = refused_create(exc, self.result["chosen"]["zone"])
            if reason is None or self.owner.check_mode or self.owner.wrote:
                raise
            return None, reason
        except Refused as exc:
            if not self.fallback:
                raise
            return None, str(exc)

    def create(self, wanted, attempt):
        """Create on the chosen option; a 412 (not enough GPUs in that zone) moves on to the next option that passes."""
        owner = self.owner
        model = wanted.get("model")
        while True:
            created, reason = self.attempt(attempt)
            if reason is None:
                break
            following = after_refusal(self.options, self.result["chosen"], reason, self.facts,
                                      self.result["passed_over"], owner.params.get("preflight_skip"))
            if following is None:
                self.result["chosen"] = None
                raise Refused(refusal(self.result["passed_over"]), details=dict(placement=self.result))
            self.fallback = True
            self.use(following)
            wanted.update(gpu_type=following["gpu_type"], gpu_count=following["gpu_count"], model=model)
        if self.moving and not owner.check_mode:
            zone, old = self.moving
            owner.write(lambda: ai.DEPLOYMENT.delete(self.clients[zone], old["id"], owner.deadline))
        return created
