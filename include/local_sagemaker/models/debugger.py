"""SageMaker Debugger on CreateTrainingJob: which requests the local SageMaker takes, and what it makes of them.

On AWS a Debugger built-in rule runs as a processing job beside the training job and reads the tensors the
Debugger hook saves (https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-createtrainingjob-api.html).
Locally there are no tensors: the loss rules (LossNotDecreasing, Overfit, Overtraining) read the job's
*metrics* instead, the values its MetricDefinitions parse from the log (and, for the built-in XGBoost
algorithm, AWS's own `train:<m>` / `validation:<m>` definitions). The mapping, done here once per request so
that a configuration the local SageMaker cannot map is refused before anything runs:

- a metric named `train:<m>` is the training series of `<m>`, `validation:<m>` its validation series (the
  naming of SageMaker's built-in algorithms); a metric without either prefix has no mode;
- a metric is a *loss* (the Debugger "losses" collection) when `<m>` contains "loss" or "nloglik" or is one
  of XGBoost's lower-is-better metrics (rmse, mae, error, ...); AUC, accuracy and the like are not;
- `tensor_regex` patterns are matched (re.match) against the metric names, `collection_names` may name
  "losses" (the loss metrics) or "metrics" (all of them);
- a step is the index of a value in its metric's series: the n-th `train:<m>` value and the n-th
  `validation:<m>` value are step n (one XGBoost round, or one epoch of a script printing both).

Only the StopTraining built-in action is honoured (https://docs.aws.amazon.com/sagemaker/latest/dg/
debugger-built-in-actions.html); e-mail and SMS actions need SNS and are refused. Rule parameters and their
defaults are those of https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-built-in-rules.html.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..algorithms import metric_definitions
from ..exceptions import ValidationException
from .base import arn

# Account of the built-in rule evaluator image (sagemaker-debugger-rules:latest) per region, as AWS lists them:
# https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-docker-images-rules.html
RULE_IMAGE_ACCOUNTS = {
    "af-south-1": "314341159256",
    "ap-east-1": "199566480951",
    "ap-northeast-1": "430734990657",
    "ap-northeast-2": "578805364391",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "904829902805",
    "ap-southeast-1": "972752614525",
    "ap-southeast-2": "184798709955",
    "ca-central-1": "519511493484",
    "cn-north-1": "618459771430",
    "cn-northwest-1": "658757709296",
    "eu-central-1": "482524230118",
    "eu-north-1": "314864569078",
    "eu-south-1": "563282790590",
    "eu-west-1": "929884845733",
    "eu-west-2": "250201462417",
    "eu-west-3": "447278800020",
    "me-south-1": "986000313247",
    "sa-east-1": "818342061345",
    "us-east-1": "503895931360",
    "us-east-2": "915447279597",
    "us-gov-west-1": "515509971035",
    "us-west-1": "685455198987",
    "us-west-2": "895741380848",
}
RULE_IMAGE = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)(?::(?P<tag>.+))?"
)

# The other built-in rules read tensors (gradients, weights, activations, labels) a local job does not emit.
TENSOR_RULES = frozenset(
    "VanishingGradient ExplodingTensor PoorWeightInitialization SaturatedActivation WeightUpdateRatio AllZero "
    "ClassImbalance Confusion FeatureImportanceOverweight TreeDepth CheckInputImages NLPSequenceRatio DeadRelu "
    "UnchangedTensor SimilarAcrossRuns StalledTrainingRule TensorVariance CreateXgboostReport".split()
)
# XGBoost's eval metrics where lower is better (https://xgboost.readthedocs.io/en/stable/parameter.html).
LOWER_IS_BETTER = frozenset("rmse rmsle mae mape mphe mse error merror logloss mlogloss".split())
STATUS_DETAILS = (
    "RuleEvaluationConditionMet: Evaluation of the rule {rule} at step {step} resulted in the condition being met\n"
)


def _int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"must be an integer >= {minimum}")
        return value

    return parse


def _float(low: float, high: float | None = None, open_low: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if value != value or (value <= low if open_low else value < low) or (high is not None and value >= high):
            bounds = f"{'>' if open_low else '>='} {low}" + (f" and < {high}" if high is not None else "")
            raise ValueError(f"must be a number {bounds}")
        return value

    return parse


def _bool(text: str) -> bool:
    if text.strip().lower() in ("true", "1"):
        return True
    if text.strip().lower() in ("false", "0"):
        return False
    raise ValueError("must be True or False")


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _regexes(text: str) -> list[str]:
    patterns = _names(text)
    for pattern in patterns:
        re.compile(pattern)
    return patterns


def _mode(text: str) -> str:
    if text.upper() not in ("TRAIN", "EVAL", "GLOBAL"):
        raise ValueError("must be TRAIN, EVAL or GLOBAL")
    return text.upper()


# rule -> parameter -> (parser, default)
RULES: dict[str, dict[str, tuple[Callable[[str], Any], Any]]] = {
    "LossNotDecreasing": {
        "collection_names": (_names, None),
        "tensor_regex": (_regexes, None),
        "use_losses_collection": (_bool, True),
        "num_steps": (_int(1), 10),
        "diff_percent": (_float(0.0, 100.0, open_low=True), None),
        "mode": (_mode, None),
    },
    "Overfit": {
        "tensor_regex": (_regexes, None),
        "start_step": (_int(0), 0),
        "patience": (_int(1), 1),
        "ratio_threshold": (_float(0.0), 0.1),
    },
    "Overtraining": {
        "patience_train": (_int(1), 5),
        "patience_validation": (_int(1), 10),
        "delta": (_float(0.0), 0.1),
    },
}
COMMON_PARAMETERS = ("rule_to_invoke", "action_json")


@dataclass(frozen=True)
class RulePlan:
    """One rule configuration, mapped onto the job's metrics."""

    name: str  # RuleConfigurationName
    rule: str  # rule_to_invoke
    params: dict[str, Any]  # every parameter of the rule, typed, defaults filled in
    series: tuple[str, ...]  # LossNotDecreasing: the metrics it watches, each on its own
    pairs: tuple[tuple[str, str], ...]  # Overfit, Overtraining: (training metric, validation metric)
    stop_prefix: str | None  # the StopTraining action's training_job_prefix, if it has one


def split_mode(metric: str) -> tuple[str, str]:
    """`train:rmse` -> ("TRAIN", "rmse"), `validation:rmse` -> ("EVAL", "rmse"), `loss` -> ("GLOBAL", "loss")."""
    for prefix, mode in (("train:", "TRAIN"), ("validation:", "EVAL")):
        if metric.startswith(prefix):
            return mode, metric[len(prefix) :]
    return "GLOBAL", metric


def is_loss(metric: str) -> bool:
    base = split_mode(metric)[1].lower()
    return "loss" in base or "nloglik" in base or base in LOWER_IS_BETTER


def metric_names(spec: dict[str, Any]) -> list[str]:
    """Every metric the job can report: its MetricDefinitions, and AWS's own for the built-in XGBoost."""
    definitions = metric_definitions(spec.get("AlgorithmSpecification") or {}, spec.get("HyperParameters") or {})
    return list(dict.fromkeys(d["Name"] for d in definitions))


def validate_debugger(spec: dict[str, Any], region: str) -> list[RulePlan]:
    """Refuse what the local SageMaker cannot honour (ValidationException naming the field); map the rest."""
    # DebugHookConfig, TensorBoardOutputConfig and ProfilerRuleConfigurations are refused with the other fields
    # the local SageMaker cannot honour (support.py), before this runs.
    profiler = spec.get("ProfilerConfig")
    if profiler and not profiler.get("DisableProfiler"):
        raise ValidationException(
            "ProfilerConfig: the local SageMaker does not profile training jobs; set DisableProfiler to true or "
            "leave ProfilerConfig out."
        )
    return plans(spec, region)


def plans(spec: dict[str, Any], region: str) -> list[RulePlan]:
    configs = spec.get("DebugRuleConfigurations") or []
    names = [c["RuleConfigurationName"] for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(
            f"DebugRuleConfigurations: RuleConfigurationName must be unique, duplicated: {duplicates}"
        )
    metrics = metric_names(spec)
    return [_plan(f"DebugRuleConfigurations.{i}", config, metrics, region) for i, config in enumerate(configs, 1)]


def _plan(where: str, config: dict[str, Any], metrics: list[str], region: str) -> RulePlan:
    _check_image(f"{where}.RuleEvaluatorImage", config["RuleEvaluatorImage"], region)
    for field in ("S3OutputPath", "LocalPath"):
        if config.get(field):
            raise ValidationException(
                f"{where}.{field}: the local SageMaker's built-in rules write no output; leave {field} out."
            )
    given = dict(config.get("RuleParameters") or {})
    rule = given.get("rule_to_invoke")
    if not rule:
        raise ValidationException(f"{where}.RuleParameters.rule_to_invoke is required: name the built-in rule to run.")
    if "source_s3_uri" in given:
        raise ValidationException(f"{where}.RuleParameters.source_s3_uri: custom rules are not supported locally.")
    if rule not in RULES:
        why = (
            "reads tensors (gradients, weights, activations, ...) that a local job does not emit"
            if rule in TENSOR_RULES
            else "is not a Debugger built-in rule"
        )
        raise ValidationException(
            f"{where}.RuleParameters.rule_to_invoke: {rule!r} {why}. The local SageMaker evaluates {sorted(RULES)}."
        )
    catalogue = RULES[rule]
    unknown = sorted(set(given) - set(catalogue) - set(COMMON_PARAMETERS))
    if unknown:
        raise ValidationException(
            f"{where}.RuleParameters: unknown parameter(s) {unknown} for rule {rule}; it takes {sorted(catalogue)}."
        )
    params: dict[str, Any] = {}
    for key, (parse, default) in catalogue.items():
        if key not in given:
            params[key] = default
            continue
        try:
            params[key] = parse(given[key])
        except (ValueError, re.error) as exc:
            raise ValidationException(f"{where}.RuleParameters.{key}: invalid value {given[key]!r}: {exc}") from exc
    stop_prefix = (
        _action(f"{where}.RuleParameters.action_json", given["action_json"]) if "action_json" in given else None
    )
    series, pairs = _map(where, rule, params, metrics)
    return RulePlan(config["RuleConfigurationName"], rule, params, series, pairs, stop_prefix)


def _check_image(where: str, image: str, region: str) -> None:
    match = RULE_IMAGE.fullmatch(image)
    if match and match["repo"] == "sagemaker-debugger-rule-evaluator":
        raise ValidationException(f"{where}: {image!r} evaluates custom rules, which are not supported locally.")
    expected = (
        f"{RULE_IMAGE_ACCOUNTS.get(region, '<account>')}.dkr.ecr.{region}.amazonaws.com/sagemaker-debugger-rules:latest"
    )
    if (
        not match
        or match["repo"] != "sagemaker-debugger-rules"
        or match["tag"] not in (None, "latest")
        or match["region"] != region
        or RULE_IMAGE_ACCOUNTS.get(region) != match["account"]
    ):
        raise ValidationException(
            f"{where}: {image!r} is not the Debugger built-in rule image of region {region}; use {expected}."
        )


def _action(where: str, text: str) -> str | None:
    """The StopTraining action's job prefix. The rule container lower-cases the whole action string before it
    parses it (smdebug's Actions), so a prefix is matched lower-cased, as on AWS. The SDK's serialized form
    escapes its quotes (`{\\"name\\": ...}`); both forms are read."""
    try:
        parsed = json.loads(text.lower())
    except ValueError:
        try:
            parsed = json.loads(text.lower().replace('\\"', '"'))
        except ValueError as exc:
            raise ValidationException(f"{where} is not valid JSON: {exc}") from exc
    actions = parsed if isinstance(parsed, list) else [parsed]
    prefix = None
    for action in actions:
        if not isinstance(action, dict) or "name" not in action:
            raise ValidationException(f"{where}: each action must be an object with a name, got {action!r}")
        if action["name"] != "stoptraining":
            raise ValidationException(
                f"{where}: action {action['name']!r} is not supported locally (e-mail and SMS need SNS); "
                "only StopTraining is."
            )
        if not isinstance(action.get("training_job_prefix"), str) or not action["training_job_prefix"]:
            raise ValidationException(f"{where}: the StopTraining action needs a training_job_prefix.")
        prefix = action["training_job_prefix"]
    return prefix


def _map(
    where: str, rule: str, params: dict[str, Any], metrics: list[str]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The metrics a rule watches; a rule with none to watch is refused."""
    regexes = [re.compile(p) for p in params.get("tensor_regex") or []]
    by_regex = [m for m in metrics if any(r.match(m) for r in regexes)]
    if rule == "LossNotDecreasing":
        chosen = set(by_regex)
        for collection in params["collection_names"] or []:
            if collection not in ("losses", "metrics"):
                raise ValidationException(
                    f"{where}.RuleParameters.collection_names: collection {collection!r} has no local counterpart; "
                    "the local SageMaker maps 'losses' (the loss metrics) and 'metrics' (all metrics)."
                )
            chosen |= {m for m in metrics if collection == "metrics" or is_loss(m)}
        if params["use_losses_collection"]:
            chosen |= {m for m in metrics if is_loss(m)}
        selected = [m for m in metrics if m in chosen]
        mode = params["mode"] or next(
            (mode for mode in ("EVAL", "TRAIN") if any(split_mode(m)[0] == mode for m in selected)), "GLOBAL"
        )
        series = tuple(m for m in selected if mode == "GLOBAL" or split_mode(m)[0] == mode)
        if not series:
            raise ValidationException(
                f"{where}.RuleParameters: rule LossNotDecreasing has no metric to watch (mode {mode}) among the "
                f"job's metrics {metrics}: name a MetricDefinitions metric with tensor_regex, or define a loss metric "
                "(train:<name>/validation:<name>, a name containing 'loss')."
            )
        return series, ()
    candidates = by_regex if regexes else [m for m in metrics if is_loss(m)]
    pairs = tuple(
        (m, f"validation:{split_mode(m)[1]}")
        for m in candidates
        if split_mode(m)[0] == "TRAIN" and f"validation:{split_mode(m)[1]}" in candidates
    )
    if not pairs:
        raise ValidationException(
            f"{where}.RuleParameters: rule {rule} needs a training and a validation loss, metrics named "
            f"train:<name> and validation:<name>{' matching tensor_regex' if regexes else ''}; the job's metrics "
            f"are {metrics}."
        )
    return (), pairs


def initial_statuses(spec: dict[str, Any], region: str, at: Any) -> list[dict[str, Any]]:
    """DebugRuleEvaluationStatuses as a job starts: one InProgress entry per rule configuration, each named after
    the processing job AWS would run it in (<job[:26]>-<rule[:26]>-<8 hex>)."""
    job = spec["TrainingJobName"]
    out = []
    for config in spec.get("DebugRuleConfigurations") or []:
        name = config["RuleConfigurationName"]
        part = re.sub(r"[^A-Za-z0-9]+", "-", name[:26]).strip("-") or "rule"
        suffix = f"{zlib.crc32(f'{job}/{name}'.encode()):08x}"
        out.append(
            {
                "RuleConfigurationName": name,
                "RuleEvaluationJobArn": arn(region, "processing-job", f"{job[:26]}-{part}-{suffix}"),
                "RuleEvaluationStatus": "InProgress",
                "LastModifiedTime": at,
            }
        )
    return out
