# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Why a deployment failed, read from the tail of its vLLM log: the cause, the lines that show it, the fix.

The patterns follow vLLM's own wording (recent V1-engine versions, and the older KV-cache message),
huggingface_hub's download errors and argparse's errors for engine arguments.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

CAUSES = ("oom", "kv_cache", "unsupported_architecture", "gated", "no_safetensors", "engine_argument",
          "not_found", "unknown")
MAX_EVIDENCE_LINES = 5
MAX_LINE_CHARS = 400

# vLLM V1: "To serve at least one request with the models's max seq len (131072), (16.00 GiB KV cache is needed,
# which is larger than the available KV cache memory (9.77 GiB). Based on the available memory, the estimated
# maximum model length is 80000. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` ..."
KV_CACHE_V1 = re.compile(r"max seq len \((?P<wanted>\d+)\).*?\((?P<needed>[\d.]+ [KMG]iB) KV cache is needed.*?"
                         r"available KV cache memory \((?P<available>[\d.]+ [KMG]iB)\)"
                         r"(?:.*?estimated maximum model length is (?P<fits>\d+))?")
# Older: "The model's max seq len (N) is larger than the maximum number of tokens that can be stored in KV cache (M)."
KV_CACHE_V0 = re.compile(r"max seq len \((?P<wanted>\d+)\) is larger than the maximum number of tokens that can be"
                         r" stored in KV cache \((?P<fits>\d+)\)")
KV_CACHE_NONE = re.compile(r"No available memory for the cache blocks")
OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory")
OOM_FIGURES = re.compile(r"Tried to allocate (?P<requested>[\d.]+ [KMG]iB)\. GPU \d+ has a total capacity of"
                         r" (?P<total>[\d.]+ [KMG]iB) of which (?P<free>[\d.]+ [KMG]iB) is free")
ARCHITECTURE = re.compile(r"Model architectures? \[(?P<names>[^\]]*)\] (?:are|is) not supported"
                          r"|Model architectures? \[(?P<names2>[^\]]*)\] failed to be inspected"
                          r"|does not recognize this architecture")
GATED = re.compile(r"GatedRepoError|Cannot access gated repo|Access to model \S+ is restricted|is a gated repo")
NO_SAFETENSORS = re.compile(r"Cannot find any model weights|no safetensors|safetensors (?:weights|files)? ?"
                            r"(?:were |are )?not found", re.IGNORECASE)
NOT_FOUND = re.compile(r"RepositoryNotFoundError|Repository Not Found")
UNRECOGNIZED = re.compile(r"error: unrecognized arguments: (?P<flags>.+?)\s*$")
INVALID_ARGUMENT = re.compile(r"error: argument (?P<flag>-[^\s:/]+)(?:/\S+)*: (?P<problem>invalid .+?)\s*$")
INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.+)\)")
# vLLM's configs are pydantic dataclasses: "1 validation error for CacheConfig" / "gpu_memory_utilization" /
# "  Input should be less than or equal to 1 [type=less_than_equal, input_value=1.5, input_type=float]",
# each on its own log line (state-details may join them). Older versions: a ValueError of their own.
CONFIG_ERROR = re.compile(r"validation error for (?P<config>[A-Za-z]+Config)\b")
CONFIG_PROBLEM = re.compile(r"Input should be (?P<bound>[^\[]+?)\s*\[type=\w+, input_value=(?P<value>[^,\]]+)")
SNAKE_WORD = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
OLD_UTILIZATION = re.compile(r"GPU memory utilization must be less than 1\.0\. Got (?P<value>[^\s]+?)\.?(?:\s|$)")
# The newest engine version in the API's spec (its inference-engine-version enum; the API's default is the newest).
NEWEST_ENGINE_VERSION = "0.28.0"
TOO_LONG = re.compile(r"User-specified max_model_len \((?P<wanted>\d+)\) is greater than the derived max_model_len"
                      r" \((?:max_position_embeddings=)?(?P<derived>\d+)")


def _clip(line):
    line = line.rstrip()
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " ..."


def _matches(lines, pattern):
    return [(line, match) for line, match in ((line, pattern.search(line)) for line in lines) if match]


def _deployment_figures(deployment):
    deployment = deployment or {}
    model = deployment.get("model") or {}
    return dict(gpu_type=deployment.get("gpu-type") or "the gpu_type", gpu_count=deployment.get("gpu-count"),
                version=deployment.get("inference-engine-version") or "(default)",
                model=model.get("name") or model.get("id") or "the model",
                parameters=deployment.get("inference-engine-parameters") or [])


def _current_flag(parameters, flag):
    for parameter in parameters:
        if parameter.strip().split("=", 1)[0].split(None, 1)[0] == flag:
            return parameter.strip()
    return None


def _more_memory(figures):
    count = figures["gpu_count"]
    more = ("raise gpu_count (now %d; a replica splits the model over its GPUs)" % count if count and count < 8
            else "raise gpu_count")
    return "%s or choose a gpu_type with more memory per GPU than %s" % (more, figures["gpu_type"])


def _engine_argument(lines, figures):
    found = _matches(lines, UNRECOGNIZED)
    if found:
        line, match = found[-1]
        flags = match.group("flags")
        return dict(summary="vLLM does not know the engine argument(s) %s." % flags, evidence=[line],
                    fix="Remove %s from inference_engine_parameters, or set inference_engine_version to a version"
                        " that has it (inferops.exoscale.ai_engine_parameter_info lists the flags of engine version"
                        " %s)." % (flags, figures["version"]))
    found = _matches(lines, INVALID_ARGUMENT)
    if found:
        line, match = found[-1]
        flag, problem = match.group("flag"), match.group("problem")
        choice = INVALID_CHOICE.search(problem)
        if choice:
            fix = "Set %s to one of %s in inference_engine_parameters (not %r)." % (
                flag, choice.group("choices"), choice.group("value"))
        else:
            fix = ("Correct the value of %s in inference_engine_parameters (inferops.exoscale.ai_engine_parameter_info"
                   " describes it)." % flag)
        return dict(summary="vLLM refused the engine argument %s: %s." % (flag, problem.rstrip(".")),
                    evidence=[line], fix=fix)
    found = _config_value(lines, figures)
    if found:
        return found
    found = _matches(lines, TOO_LONG)
    if found:
        line, match = found[-1]
        wanted, derived = match.group("wanted"), match.group("derived")
        current = _current_flag(figures["parameters"], "--max-model-len") or "--max-model-len=%s" % wanted
        return dict(summary="--max-model-len %s is more than the model's max_position_embeddings (%s)." % (wanted, derived),
                    evidence=[line], fix="In inference_engine_parameters change %s to --max-model-len=%s or lower."
                                         % (current, derived), max_model_len=int(derived))
    return None


def _config_value(lines, figures):
    """An engine argument whose value vLLM's config refused (pydantic's validation error, or an older ValueError)."""
    for index in range(len(lines) - 1, -1, -1):
        config = CONFIG_ERROR.search(lines[index])
        if not config:
            continue
        window = " ".join(lines[index:index + 3])
        problem = CONFIG_PROBLEM.search(window, config.end())
        if not problem:
            continue
        between = window[config.end():problem.start()].split()
        field = next((word for word in reversed(between) if SNAKE_WORD.match(word)), None)
        if field:
            return _refused_value(field, problem.group("value"), "Input should be " + problem.group("bound").strip(),
                                  lines[index:index + 3], figures)
    found = _matches(lines, OLD_UTILIZATION)
    if found:
        line, match = found[-1]
        return _refused_value("gpu_memory_utilization", match.group("value"), "it must be at most 1.0", [line], figures)
    return None


def _refused_value(field, value, problem, evidence, figures):
    flag = "--" + field.replace("_", "-")
    current = _current_flag(figures["parameters"], flag) or "%s=%s" % (flag, value)
    if field == "gpu_memory_utilization":
        fix = ("In inference_engine_parameters change %s to a fraction greater than 0 and at most 1, for example"
               " %s=0.9 (vLLM's default)." % (current, flag))
    else:
        fix = ("Correct %s in inference_engine_parameters: %s (inferops.exoscale.ai_engine_parameter_info describes"
               " it)." % (current, problem[0].lower() + problem[1:]))
    return dict(summary="vLLM refused the engine argument %s=%s: %s." % (flag, value, problem.rstrip(".")),
                evidence=[line for line in evidence if line.strip()], fix=fix)


def _kv_cache(lines, figures):
    for pattern in (KV_CACHE_V1, KV_CACHE_V0):
        found = _matches(lines, pattern)
        if not found:
            continue
        line, match = found[-1]
        groups = match.groupdict()
        fits = int(groups["fits"]) if groups.get("fits") else None
        if groups.get("needed"):
            summary = ("The KV cache cannot hold one request of the model's max seq len (%s tokens): %s needed, %s"
                       " available." % (groups["wanted"], groups["needed"], groups["available"]))
        else:
            summary = ("The KV cache cannot hold one request of the model's max seq len (%s tokens); it holds %s"
                       " tokens." % (groups["wanted"], groups["fits"]))
        current = _current_flag(figures["parameters"], "--max-model-len")
        if fits:
            change = ("change %s to --max-model-len=%d" % (current, fits) if current
                      else "add --max-model-len=%d" % fits)
            fix = ("In inference_engine_parameters %s (or lower: vLLM estimates that %d tokens fit), or give the KV"
                   " cache more memory: raise --gpu-memory-utilization (vLLM's default 0.9), %s."
                   % (change, fits, _more_memory(figures)))
        else:
            fix = ("Lower --max-model-len in inference_engine_parameters, or give the KV cache more memory: raise"
                   " --gpu-memory-utilization (vLLM's default 0.9), %s." % _more_memory(figures))
        result = dict(summary=summary, evidence=[line], fix=fix)
        if fits:
            result["max_model_len"] = fits
        return result
    found = _matches(lines, KV_CACHE_NONE)
    if found:
        return dict(summary="The weights leave no GPU memory for the KV cache.", evidence=[found[-1][0]],
                    fix="Give the model more memory: %s, or raise --gpu-memory-utilization (vLLM's default 0.9)."
                        % _more_memory(figures))
    return None


def _oom(lines, figures):
    found = _matches(lines, OOM)
    if not found:
        return None
    evidence = [line for line, dummy in found]
    numbers = [match for match in (OOM_FIGURES.search(line) for line in evidence) if match]
    summary = "The GPUs ran out of memory (CUDA out of memory)"
    if numbers:
        summary += ": %s requested, %s free of %s per GPU" % (
            numbers[-1].group("requested"), numbers[-1].group("free"), numbers[-1].group("total"))
    return dict(summary=summary + ".", evidence=evidence,
                fix="Give %s more GPU memory: %s. If the weights loaded and the engine ran out later, lower"
                    " --max-model-len or --max-num-seqs in inference_engine_parameters." % (
                        figures["model"], _more_memory(figures)))


def _architecture(lines, figures):
    found = _matches(lines, ARCHITECTURE)
    if not found:
        return None
    line, match = found[-1]
    names = match.group("names") or match.group("names2") or ""
    what = "architecture %s" % names if names else "the model's architecture"
    version = figures["version"] if figures["version"] != "(default)" else NEWEST_ENGINE_VERSION
    if _version_key(version) < _version_key(NEWEST_ENGINE_VERSION):
        fix = ("Set inference_engine_version to a newer vLLM version (up to %s, the newest the API offers) if one"
               " supports %s, or deploy another model." % (NEWEST_ENGINE_VERSION, what))
    else:
        fix = ("inference_engine_version %s is already the newest the API offers, so no other engine version can"
               " help: deploy a model with an architecture vLLM supports (a supported architecture list is in the"
               " evidence line)." % version)
    return dict(summary="Engine version %s does not support %s." % (version, what), evidence=[line], fix=fix)


def _version_key(version):
    try:
        return tuple(int(part) for part in str(version).split("."))
    except ValueError:  # not a release number: treat it as the newest (never suggest a version that may not exist)
        return _version_key(NEWEST_ENGINE_VERSION)


def _gated(lines, figures):
    found = _matches(lines, GATED)
    if not found:
        return None
    return dict(summary="Hugging Face refused the download of %s: it is gated and the model's token has no access."
                        % figures["model"], evidence=[line for line, dummy in found],
                fix="Accept the licence of %s on huggingface.co with your account, then recreate the model"
                    " (inferops.exoscale.ai_model with recreate=true or state=absent first) with a huggingface_token"
                    " of that account, and the deployment with recreate=true." % figures["model"])


def _no_safetensors(lines, figures):
    found = _matches(lines, NO_SAFETENSORS)
    if not found:
        return None
    return dict(summary="%s has no safetensors weights, which Exoscale needs." % figures["model"],
                evidence=[line for line, dummy in found],
                fix="Deploy a repository with safetensors weights (not a GGUF or .bin-only one), for example the"
                    " original model the GGUF was made from.")


def _not_found(lines, figures):
    found = _matches(lines, NOT_FOUND)
    if not found:
        return None
    return dict(summary="Hugging Face has no repository %s (or it is private)." % figures["model"],
                evidence=[line for line, dummy in found],
                fix="Check the exact repository id (case matters) on huggingface.co and create the model with it.")


# The first cause that matches wins: a bad argument or a refused download stops vLLM before memory is touched,
# so a memory message next to one of them is a consequence, not the cause.
CLASSIFIERS = (("engine_argument", _engine_argument), ("gated", _gated), ("not_found", _not_found),
               ("no_safetensors", _no_safetensors), ("unsupported_architecture", _architecture),
               ("kv_cache", _kv_cache), ("oom", _oom))


def diagnose(log_lines, deployment=None):
    """Classify a log tail: ``{cause, summary, evidence, fix}`` (plus ``max_model_len`` for ``kv_cache``).

    ``deployment`` (the API's object) tailors the fix (current gpu_count, gpu_type, engine version and
    parameters); its ``state-details`` are read like a log line.
    """
    raw = [line for line in log_lines or [] if line and line.strip()]
    lines = [_clip(line) for line in raw]
    details = (deployment or {}).get("state-details")
    if details and not any(details.strip() in line for line in raw):  # vLLM's line is often the state-details
        lines.append(_clip("state-details: %s" % details))
    figures = _deployment_figures(deployment)
    for cause, classify in CLASSIFIERS:
        found = classify(lines, figures)
        if found:
            found["evidence"] = list(dict.fromkeys(found["evidence"]))[-MAX_EVIDENCE_LINES:]
            return dict(found, cause=cause)
    return dict(cause="unknown", evidence=lines[-MAX_EVIDENCE_LINES:],
                summary="The log does not show a cause the collection knows.",
                fix="Read the log lines (inferops.exoscale.ai_deployment_info with log_lines, or the evidence"
                    " here), fix the cause, then run the task again with recreate=true.")


def failure_message(deployment, diagnosis, logs, shown=8):
    """The message of a deployment in ``error``: what is wrong, the cause and fix, then the log tail.

    vLLM's root-cause line is usually the state-details and a log line too: it is quoted once, in the log tail.
    """
    details = (deployment.get("state-details") or "").strip()
    tail = logs[-shown:]
    head = "Deployment %r (id %s) is in state error" % (deployment.get("name"), deployment.get("id"))
    if details and not any(details in line for line in tail):
        head += ": %s" % details.rstrip(".")
    elif not details:
        head += " (no details given)"
    advice = ("Fix the cause (see the log lines), then" if diagnosis["cause"] == "unknown"
              else describe(diagnosis) + " Then")
    message = "%s. %s run the task again with recreate=true to replace it, or delete it (state=absent)." % (head, advice)
    if tail:
        message += " Last log lines:\n" + "\n".join(tail)
    return message


def describe(diagnosis):
    """The diagnosis as a sentence for a failure message."""
    return "Cause (%s): %s Fix: %s" % (diagnosis["cause"], diagnosis["summary"], diagnosis["fix"])
