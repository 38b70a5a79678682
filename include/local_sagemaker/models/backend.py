"""One SageMaker backend per region: the operations, each a method named after it in snake_case.

Methods take the request dict (already validated against the input shape by the api layer) and return the
response dict. Running work is asked of a Launcher (the Runtime on the server, a fake one in unit tests),
which reports back through `save`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import ResourceInUse, ResourceNotFound, ValidationException, could_not_find
from .base import arn, filter_and_sort, paginate
from .debugger import validate_debugger
from .hosting import Endpoint, EndpointConfig, Model
from .search import search, search_record
from .store import StateStore
from .training import TrainingJob, validate_create
from .tuning import TuningJob
from .tuning_validation import validate_create as validate_tuning


class Launcher(Protocol):
    """What the backend asks of whatever runs the work; each call returns at once and the work reports back
    through `backend.save` from its own thread."""

    def start_training(self, backend: SageMakerBackend, job: TrainingJob) -> None: ...

    def start_tuning(self, backend: SageMakerBackend, tuning: TuningJob) -> None: ...

    def deploy(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> None: ...

    def undeploy(self, endpoint: Endpoint) -> None: ...


class SageMakerBackend:
    def __init__(self, region: str, store: StateStore, launcher: Launcher) -> None:
        self.region = region
        self.store = store
        self.launcher = launcher
        self.lock = threading.RLock()
        self.training_jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, Model] = {}
        self.endpoint_configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.tuning_jobs: dict[str, TuningJob] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}

    # --- persistence ---------------------------------------------------------------------------
    def save(self, resource: Any) -> None:
        """Store a resource's current state, unless it was deleted meanwhile.

        Deployments and jobs report back from their own threads; one that ends after its resource was
        deleted (an endpoint deleted while Creating, say) must not write it back.
        """
        with self.lock:
            if self._registered(resource):
                self.store.put(self.region, resource.kind, resource.name, resource.record())

    def _registered(self, resource: Any) -> bool:
        return self._registry(resource.kind).get(resource.name) is resource

    def _registry(self, kind: str) -> dict[str, Any]:
        registries: dict[str, dict[str, Any]] = {
            TrainingJob.kind: self.training_jobs,
            Model.kind: self.models,
            EndpointConfig.kind: self.endpoint_configs,
            Endpoint.kind: self.endpoints,
            TuningJob.kind: self.tuning_jobs,
        }
        return registries[kind]

    def restore(self, kind: str, name: str, body: dict[str, Any]) -> None:
        if kind == TrainingJob.kind:
            self.training_jobs[name] = TrainingJob.from_record(self.region, body)
        elif kind == Model.kind:
            self.models[name] = Model.from_record(self.region, body)
        elif kind == EndpointConfig.kind:
            self.endpoint_configs[name] = EndpointConfig.from_record(self.region, body)
        elif kind == Endpoint.kind:
            self.endpoints[name] = Endpoint.from_record(self.region, name, body)
        elif kind == TuningJob.kind:
            self.tuning_jobs[name] = TuningJob.from_record(self.region, body)
        elif kind == "tags":
            self.tags[name] = body["tags"]

    def _drop_tags(self, resource_arn: str) -> None:
        """A deleted resource's tags go with it: a new resource of the same name starts untagged, as on AWS."""
        if self.tags.pop(resource_arn, None) is not None:
            self.store.delete(self.region, "tags", resource_arn)

    def _set_tags(self, resource_arn: str, tags: list[dict[str, str]]) -> None:
        merged = {t["Key"]: t for t in self.tags.get(resource_arn, [])}
        merged.update({t["Key"]: t for t in tags})
        self.tags[resource_arn] = list(merged.values())
        self.store.put(self.region, "tags", resource_arn, {"tags": self.tags[resource_arn]})

    # --- training jobs -------------------------------------------------------------------------
    def create_training_job(self, params: dict[str, Any], tuning_job_arn: str | None = None) -> dict[str, Any]:
        validate_create(params)
        validate_debugger(params, self.region)
        with self.lock:
            name = params["TrainingJobName"]
            if name in self.training_jobs:
                raise ResourceInUse(
                    f"Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({self.training_jobs[name].arn})"
                )
            job = TrainingJob(self.region, params, tuning_job_arn=tuning_job_arn)
            self.training_jobs[name] = job
            if params.get("Tags"):
                self._set_tags(job.arn, params["Tags"])
            self.save(job)
        self.launcher.start_training(self, job)
        return {"TrainingJobArn": job.arn}

    def _training_job(self, name: str) -> TrainingJob:
        job = self.training_jobs.get(name)
        if job is None:
            raise ValidationException("Requested resource not found.")
        return job

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._training_job(params["TrainingJobName"]).describe()

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("StatusEquals") and params.get("MaxResults"):
            # AWS (ListTrainingJobs): "the MaxResults number of training jobs are first retrieved ignoring the
            # StatusEquals parameter and then they are filtered by the StatusEquals parameter".
            key, status = "TrainingJobSummaries", params["StatusEquals"]
            listed = self._list({**params, "StatusEquals": None}, self.training_jobs, key, stateful=True)
            listed[key] = [s for s in listed[key] if s["TrainingJobStatus"] == status]
            return listed
        return self._list(params, self.training_jobs, "TrainingJobSummaries", stateful=True)

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._training_job(params["TrainingJobName"])
            if job.terminal or job.status == "Stopping":
                raise ValidationException(
                    f"The request was rejected because the training job is in status {job.status}."
                )
            self.request_stop(job, "Stopping the training job")
        return {}

    def request_stop(self, job: TrainingJob, message: str) -> None:
        """Ask the runner to stop a job (SIGTERM, grace period, upload): StopTrainingJob and the tuner's."""
        with self.lock:
            job.stop_requested = True
            job.status = "Stopping"
            job.set_secondary("Stopping", message)
            job.rules_stopping()
            self.save(job)

    # --- hyperparameter tuning jobs ------------------------------------------------------------
    def create_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            name = params["HyperParameterTuningJobName"]
            if name in self.tuning_jobs:
                raise ResourceInUse(f"Hyperparameter tuning job {name} already exists ({self.tuning_jobs[name].arn}).")
            warm = params.get("WarmStartConfig") or {}
            parents = {
                p["HyperParameterTuningJobName"]: self.tuning_jobs[p["HyperParameterTuningJobName"]]
                for p in warm.get("ParentHyperParameterTuningJobs") or []
                if p["HyperParameterTuningJobName"] in self.tuning_jobs
            }
            validate_tuning(params, parents)
            tuning = TuningJob(self.region, params)
            tuning.parent_best = self._best_of(list(parents.values()))
            self.tuning_jobs[name] = tuning
            if params.get("Tags"):
                self._set_tags(tuning.arn, params["Tags"])
            self.save(tuning)
        self.launcher.start_tuning(self, tuning)
        return {"HyperParameterTuningJobArn": tuning.arn}

    def _best_of(self, tunings: list[TuningJob]) -> dict[str, Any] | None:
        best = None
        for tuning in tunings:
            trial = tuning.best_trial()
            if trial is not None and (best is None or tuning.better(trial.value, best[1].value)):
                best = (tuning, trial)
        if best is None:
            return None
        return best[0].trial_summary(best[1], self.training_jobs.get(best[1].job))

    def _tuning_job(self, name: str) -> TuningJob:
        tuning = self.tuning_jobs.get(name)
        if tuning is None:
            raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")
        return tuning

    def describe_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._tuning_job(params["HyperParameterTuningJobName"]).describe(self.training_jobs)

    def list_hyper_parameter_tuning_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list(
            params,
            self.tuning_jobs,
            "HyperParameterTuningJobSummaries",
            stateful=True,
            summary=lambda t: t.summary(self.training_jobs),
            default_sort=("Name", "Ascending"),  # ListHyperParameterTuningJobs' documented defaults
        )

    def stop_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tuning = self._tuning_job(params["HyperParameterTuningJobName"])
            if tuning.status != "InProgress":
                raise ValidationException(
                    f"The request was rejected because the tuning job is in status {tuning.status}."
                )
            tuning.stop_requested = True
            tuning.status = "Stopping"
            self.save(tuning)
        return {}

    def delete_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tuning = self._tuning_job(params["HyperParameterTuningJobName"])
            if not tuning.terminal:
                raise ValidationException(
                    f"Tuning job {tuning.name} is {tuning.status}; only a Completed, Stopped or Failed tuning job "
                    "can be deleted."
                )
            del self.tuning_jobs[tuning.name]
            self.store.delete(self.region, TuningJob.kind, tuning.name)
            self._drop_tags(tuning.arn)
        return {}

    def list_training_jobs_for_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tuning = self._tuning_job(params["HyperParameterTuningJobName"])
            summaries = [tuning.trial_summary(t, self.training_jobs.get(t.job)) for t in tuning.trials]
            if params.get("StatusEquals"):
                summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
            summaries = _sort_trial_summaries(summaries, params)
            page, token = paginate(
                summaries, params.get("NextToken"), params.get("MaxResults"), key=lambda s: s["TrainingJobName"]
            )
        out: dict[str, Any] = {"TrainingJobSummaries": page}
        if token:
            out["NextToken"] = token
        return out

    # --- models --------------------------------------------------------------------------------
    def create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            name = params["ModelName"]
            if name in self.models:
                raise ValidationException(f'Cannot create already existing model "{self.models[name].arn}".')
            model = Model(self.region, params)
            self.models[name] = model
            if params.get("Tags"):
                self._set_tags(model.arn, params["Tags"])
            self.save(model)
        return {"ModelArn": model.arn}

    def _model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            raise could_not_find("model", arn(self.region, "model", name))
        return model

    def describe_model(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._model(params["ModelName"]).describe()

    def delete_model(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            model = self._model(params["ModelName"])
            del self.models[model.name]
            self.store.delete(self.region, Model.kind, model.name)
            self._drop_tags(model.arn)
        return {}

    def list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list(params, self.models, "Models")

    # --- endpoint configurations ---------------------------------------------------------------
    def create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            name = params["EndpointConfigName"]
            if name in self.endpoint_configs:
                raise ValidationException(
                    f'Cannot create already existing endpoint configuration "{self.endpoint_configs[name].arn}".'
                )
            config = EndpointConfig(self.region, params)
            for variant in config.variants:
                self._model(variant["ModelName"])
            self.endpoint_configs[name] = config
            if params.get("Tags"):
                self._set_tags(config.arn, params["Tags"])
            self.save(config)
        return {"EndpointConfigArn": config.arn}

    def _endpoint_config(self, name: str) -> EndpointConfig:
        config = self.endpoint_configs.get(name)
        if config is None:
            raise could_not_find("endpoint configuration", arn(self.region, "endpoint-config", name))
        return config

    def describe_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._endpoint_config(params["EndpointConfigName"]).describe()

    def delete_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            config = self._endpoint_config(params["EndpointConfigName"])
            del self.endpoint_configs[config.name]
            self.store.delete(self.region, EndpointConfig.kind, config.name)
            self._drop_tags(config.arn)
        return {}

    def list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list(params, self.endpoint_configs, "EndpointConfigs")

    # --- endpoints -----------------------------------------------------------------------------
    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            name = params["EndpointName"]
            if name in self.endpoints:
                raise ValidationException(f'Cannot create already existing endpoint "{self.endpoints[name].arn}".')
            config = self._endpoint_config(params["EndpointConfigName"])
            endpoint = Endpoint(self.region, name, config.name)
            self.endpoints[name] = endpoint
            if params.get("Tags"):
                self._set_tags(endpoint.arn, params["Tags"])
            self.save(endpoint)
        self.launcher.deploy(self, endpoint, config)
        return {"EndpointArn": endpoint.arn}

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise could_not_find("endpoint", arn(self.region, "endpoint", name))
        return endpoint

    def describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._endpoint(params["EndpointName"]).describe()

    def update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            endpoint = self._endpoint(params["EndpointName"])
            if endpoint.status != "InService":
                raise ValidationException(
                    f'Cannot update in-progress endpoint "{endpoint.arn}".'
                    if endpoint.status in ("Creating", "Updating")
                    else f'Cannot update endpoint "{endpoint.arn}" in status {endpoint.status}.'
                )
            config = self._endpoint_config(params["EndpointConfigName"])
            endpoint.pending_config = config.name
            endpoint.set_status("Updating")
            self.save(endpoint)
        self.launcher.deploy(self, endpoint, config)
        return {"EndpointArn": endpoint.arn}

    def delete_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            endpoint = self._endpoint(params["EndpointName"])
            del self.endpoints[endpoint.name]
            self.store.delete(self.region, Endpoint.kind, endpoint.name)
            self._drop_tags(endpoint.arn)
        self.launcher.undeploy(endpoint)
        return {}

    def list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._list(params, self.endpoints, "Endpoints", stateful=True)

    # --- tags ----------------------------------------------------------------------------------
    def _tagged(self, resource_arn: str) -> None:
        known = [
            r.arn
            for group in (self.training_jobs, self.models, self.endpoint_configs, self.endpoints, self.tuning_jobs)
            for r in group.values()
        ]
        if resource_arn not in known and resource_arn.lower() not in known:
            raise ResourceNotFound(f"Resource {resource_arn} does not exist.")

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._tagged(params["ResourceArn"])
            self._set_tags(params["ResourceArn"], params["Tags"])
            return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._tagged(params["ResourceArn"])
            tags = self.tags.get(params["ResourceArn"], [])
            page, token = paginate(tags, params.get("NextToken"), params.get("MaxResults"), default_max=50)
        return {"Tags": page, **({"NextToken": token} if token else {})}

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._tagged(params["ResourceArn"])
            keep = [t for t in self.tags.get(params["ResourceArn"], []) if t["Key"] not in params["TagKeys"]]
            self.tags[params["ResourceArn"]] = []
            self._set_tags(params["ResourceArn"], keep)
        return {}

    # --- search --------------------------------------------------------------------------------
    def search(self, params: dict[str, Any]) -> dict[str, Any]:
        """Search over training jobs and tuning jobs; the expression, sort and records are models/search.py's."""

        def records(resource: str) -> list[dict[str, Any]]:
            if resource == "TrainingJob":
                described = [(j.describe(), j.arn) for j in self.training_jobs.values()]
            else:
                described = [(t.describe(self.training_jobs), t.arn) for t in self.tuning_jobs.values()]
            return [search_record(resource, d, self.tags.get(resource_arn)) for d, resource_arn in described]

        with self.lock:
            return search(params, records)

    # --- helpers -------------------------------------------------------------------------------
    def _list(
        self,
        params: dict[str, Any],
        resources: dict[str, Any],
        key: str,
        stateful: bool = False,
        summary: Callable[[Any], dict[str, Any]] | None = None,
        default_sort: tuple[str, str] = ("CreationTime", "Descending"),
    ) -> dict[str, Any]:
        """The List* operations: filters, sort and pagination; `stateful` resources filter by status too."""
        status = (lambda r: r.status) if stateful else None
        with self.lock:
            items = filter_and_sort(
                list(resources.values()),
                params,
                name=lambda r: r.name,
                created=lambda r: r.created,
                status=status,
                modified=(lambda r: r.modified) if stateful else None,
                sort_keys={"Status": status} if status else None,
                default_sort=default_sort[0],
                default_order=default_sort[1],
            )
            page, token = paginate(items, params.get("NextToken"), params.get("MaxResults"), key=lambda r: r.name)
            out: dict[str, Any] = {key: [(summary or (lambda r: r.summary()))(r) for r in page]}
        if token:
            out["NextToken"] = token
        return out


def _sort_trial_summaries(summaries: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """ListTrainingJobsForHyperParameterTuningJob's sort: by Name, Ascending unless asked otherwise; "If the value
    of this field is FinalObjectiveMetricValue, any training jobs that did not return an objective metric are not
    listed" (API reference, SortBy)."""
    sort_by = params.get("SortBy") or "Name"
    descending = (params.get("SortOrder") or "Ascending") == "Descending"
    if sort_by == "FinalObjectiveMetricValue":
        scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        return sorted(
            scored, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=descending
        )
    keys = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}
    return sorted(summaries, key=lambda s: s[keys[sort_by]], reverse=descending)
