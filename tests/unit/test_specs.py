"""Tuning specs (include/pipeline/spec.py): the shipped ones load, and a bad one fails loudly and alone.

Every refusal names the spec file and the field. Beside the hand-written cases, hypothesis breaks a valid spec
at random places (a field removed, an unknown one added, a value of the wrong type) and each must be refused
the same way. A broken spec is an import error of its own DAG file only (Airflow's DagBag)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.pipeline.params import PARAM_TABLE, defaults
from include.pipeline.spec import ModelSpec, SpecError, load_spec, spec_from_mapping
from tests.reliability.figures import record, scaled
from tests.specs import FLIGHT, FLIGHT_SPEC_FILE, HOTEL, MINIMAL, ROOT, SPECS, changed, write, write_dag_file


def refused(tmp_path: Path, values: Any) -> str:
    """The message a spec file with these values is refused with (it must be refused)."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------- shipped


def test_the_shipped_specs_load_and_keep_their_names_apart():
    assert FLIGHT.name == "flight_delay" and HOTEL.name == "hotel_rates"
    # The flight model predates specs: its DAG ids, job names and S3 prefixes are what deployments have.
    assert (FLIGHT.nightly_dag_id, FLIGHT.on_new_data_dag_id, FLIGHT.ingest_dag_id) == (
        "hpo_nightly",
        "hpo_on_new_data",
        "ingest_flights",
    )
    assert (FLIGHT.jobs_prefix, FLIGHT.history_prefix, FLIGHT.key("reports", "x")) == (
        "hpo",
        "champion/history",
        "reports/x",
    )
    # A new model is namespaced by its name everywhere.
    assert (HOTEL.nightly_dag_id, HOTEL.jobs_prefix, HOTEL.history_prefix, HOTEL.endpoint_name) == (
        "hotel_rates_nightly",
        "hotel-rates",
        "models/hotel_rates/champion/history",
        "hotel-rates",
    )
    assert HOTEL.builtin and HOTEL.metric_definitions == [] and not FLIGHT.builtin


def test_a_minimal_spec_takes_the_defaults():
    spec = spec_from_mapping(MINIMAL)
    assert spec.data.file == "part.parquet" and spec.data.channel_format == "csv" and spec.data.last_day is None
    assert spec.asset_name == "tiny_partitions" and spec.prefix == "models/tiny"
    assert defaults(spec)["strategy"] == "Bayesian" and defaults(spec, "on_new_data")["warm_start"] == "auto"


def test_a_spec_can_be_a_python_object_too():
    spec = ModelSpec(**{**MINIMAL, "name": "from_python"})
    assert spec.name == "from_python" and spec.ranges["eta"].max == 0.5


def test_the_pipelines_xgboost_metrics_are_the_local_algorithms():
    """The spec checks built-in objectives against a list of its own (the pipeline must not import the service)."""
    from include.local_sagemaker import algorithms
    from include.pipeline.spec import XGBOOST_METRICS

    assert set(algorithms.XGBOOST_METRICS) == XGBOOST_METRICS


# ------------------------------------------------------------------------------------------ refusals


def scripted(*definitions: dict[str, str]) -> dict[str, Any]:
    """MINIMAL in script mode (any directory with a train.py), its objective read by these metric definitions."""
    script = {"kind": "script", "source_dir": "training_scripts/flight_delay", "entry_point": "train.py"}
    objective = {"metric": "validation:rmse", "type": "Minimize", "metric_definitions": list(definitions)}
    return {**changed(MINIMAL, "algorithm", script), "objective": objective}


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "unknown top-level field": (changed(MINIMAL, "colour", "blue"), "colour: unknown field"),
    "unknown nested field": (changed(MINIMAL, "data.label.weight", 2), "data.label.weight: unknown field"),
    "missing field": (changed(MINIMAL, "evaluation.smoke_threshold", ...), "evaluation.smoke_threshold: required"),
    "a certain confidence": (changed(MINIMAL, "evaluation.confidence", 1.0), "evaluation.confidence: "),
    "a coin-flip confidence": (changed(MINIMAL, "evaluation.confidence", 0.3), "evaluation.confidence: "),
    "range min above max": (
        changed(MINIMAL, "ranges.eta", {"type": "Continuous", "min": 0.5, "max": 0.1}),
        "ranges.eta: min (0.5) is above max (0.1)",
    ),
    "log range from zero": (
        changed(MINIMAL, "ranges.eta", {"type": "Continuous", "min": 0, "max": 1, "scaling": "Logarithmic"}),
        "ranges.eta: Logarithmic scaling needs min > 0",
    ),
    "objective nobody captures": (
        scripted({"name": "validation:mse", "regex": "mse=([0-9.]+)"}),
        "objective: metric 'validation:rmse' (regex ''): is the objective but has no metric definition",
    ),
    "regex without a group": (scripted({"name": "validation:rmse", "regex": "rmse=[0-9.]+"}), "has 0 capture groups"),
    "built-in metric not emitted": (
        changed(MINIMAL, "objective.metric", "validation:auc"),
        "objective.metric: the algorithm emits ['rmse'] with these static hyperparameters; add 'auc' to eval_metric",
    ),
    "Grid without a grid": (
        changed(MINIMAL, "tuning", {"strategy": "Grid"}),
        "tuning.strategy: Param strategy must be",
    ),
    "missing script directory": (
        changed(MINIMAL, "algorithm", {"kind": "script", "source_dir": "training_scripts/nope", "entry_point": "t.py"}),
        "algorithm: source_dir 'training_scripts/nope': no such directory",
    ),
    "missing entry point": (
        changed(
            MINIMAL,
            "algorithm",
            {"kind": "script", "source_dir": "training_scripts/flight_delay", "entry_point": "serve.py"},
        ),
        "algorithm: entry_point 'serve.py': no such file in",
    ),
    "metric for other labels": (changed(MINIMAL, "evaluation.metric", "auc"), "evaluation.metric: auc scores binary"),
    "direction contradicted": (
        changed(MINIMAL, "evaluation.direction", "Maximize"),
        "evaluation: direction Maximize contradicts rmse, where Minimize is better",
    ),
    "tuned and static": (
        changed(MINIMAL, "static_hyperparameters", {"num_round": 10, "eta": 0.2}),
        "ranges: ['eta'] are also static hyperparameters",
    ),
    "pipeline's own static": (
        changed(MINIMAL, "static_hyperparameters", {"num_round": 10, "sagemaker_program": "x.py"}),
        "static_hyperparameters: ['sagemaker_program'] are set by the pipeline",
    ),
    "default out of bounds": (changed(MINIMAL, "tuning", {"max_jobs": 0}), "tuning.max_jobs: Param max_jobs must be"),
    "a retune default that contradicts the retune": (
        changed(MINIMAL, "on_new_data", {"parent_tuning_jobs": ["hpo-a"]}),
        "on_new_data.parent_tuning_jobs: Param parent_tuning_jobs must be empty with warm_start=auto",
    ),
    "unknown default": (changed(MINIMAL, "on_new_data", {"max_job": 5}), "on_new_data.max_job: 'max_job' is not"),
    "bad name": (changed(MINIMAL, "name", "Tiny Model"), "name: 'Tiny Model': use lowercase letters"),
    "source without its module": (
        changed(MINIMAL, "data.source", {"function": "include.models.nothing_here:rows"}),
        "data.source: 'include.models.nothing_here:rows': no module",
    ),
    "label among the features": (
        changed(MINIMAL, "data.features", ["dewp", "temp"]),
        "data.features: the label column 'temp' must not be a feature",
    ),
    "hyperband resource unknown": (
        changed(MINIMAL, "hyperband", {"max_resource": "epochs"}),
        "hyperband.max_resource: names 'epochs', which is not an integer static hyperparameter",
    ),
    "not a mapping": (["name", "tiny"], "a spec is a mapping of fields, got list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_spec_is_refused_naming_its_file_and_field(tmp_path, case):
    values, expected = BAD[case]
    message = refused(tmp_path, values)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}: "), message
    assert expected in message, message


def test_the_error_lines_the_guide_shows_are_the_real_ones(tmp_path):
    guide = (ROOT / "docs" / "your-model.md").read_text()
    spec = yaml.safe_load(re.search(r"```yaml\n(.*?)```", guide, re.DOTALL).group(1))
    spec["algorithm"]["source_dir"] = "training_scripts/flight_delay"  # any directory with a train.py will do
    path = tmp_path / "include" / "models" / "weather_temp.yaml"
    path.parent.mkdir(parents=True)
    shown = re.search(r"and the other models' DAGs still load:\n\n```\n(.*?)```", guide, re.DOTALL).group(1)
    for line, broken in zip(
        shown.splitlines(),
        (
            changed(spec, "ranges.max_leaf_nodes", {"type": "Integer", "min": 64, "max": 4}),
            changed(spec, "objective.metric_definitions", [{"name": "validation:mse", "regex": "mse=([0-9.]+);"}]),
        ),
        strict=True,
    ):
        path.write_text(yaml.safe_dump(broken, sort_keys=False))
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        assert str(caught.value) == line.replace("include/models/weather_temp.yaml", str(path))


def test_two_specs_with_one_name_both_fail(tmp_path):
    first, second = write(tmp_path, MINIMAL, "first"), write(tmp_path, MINIMAL, "second")
    for path, other in ((first, second), (second, first)):
        with pytest.raises(SpecError, match=f"{re.escape(str(path))}: name: 'tiny' is also the name of .*{other.name}"):
            load_spec(path)
    write(tmp_path, changed(MINIMAL, "name", "other"), "second")
    assert load_spec(first).name == "tiny"


def test_a_spec_that_is_not_yaml_or_not_there_is_named(tmp_path):
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: not valid YAML"):
        load_spec(tmp_path / "broken.yaml")
    with pytest.raises(SpecError, match=r"absent.yaml: no such spec file"):
        load_spec(tmp_path / "absent.yaml")


# ------------------------------------------------------------------------------- generated bad specs


def _leaves(values: Any, prefix: str = "") -> list[str]:
    if isinstance(values, dict):
        return [leaf for key, value in values.items() for leaf in _leaves(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


FLIGHT_VALUES = yaml.safe_load(FLIGHT_SPEC_FILE.read_text())
LEAVES = _leaves(FLIGHT_VALUES)
# Fields the flight spec cannot do without (the rest have defaults): removing one must be refused.
REQUIRED = [
    "name",
    "data.partitions",
    "data.first_day",
    "data.label.column",
    "data.label.kind",
    "data.features",
    "algorithm.kind",
    "algorithm.source_dir",
    "algorithm.entry_point",
    "objective.metric",
    "objective.type",
    "objective.metric_definitions",
    "evaluation.metric",
    "evaluation.smoke_threshold",
    "ranges",
    "static_hyperparameters.num_round",
    "data",
    "algorithm",
    "objective",
    "evaluation",
]
BREAKS = st.one_of(
    st.tuples(st.just("remove"), st.sampled_from(REQUIRED)),
    st.tuples(
        st.just("unknown"),
        st.sampled_from(
            ["", "data.", "algorithm.", "objective.", "evaluation.", "deployment.", "data.label.", "ranges.eta."]
        ),
    ),
    st.tuples(st.just("wrong type"), st.sampled_from(LEAVES)),
)


@settings(max_examples=scaled(60, 1000), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(BREAKS, min_size=1, max_size=3, unique=True))
def test_generated_bad_specs_are_refused_naming_a_broken_field(tmp_path, breaks):
    values = copy.deepcopy(FLIGHT_VALUES)
    for kind, where in breaks:
        if kind == "remove":
            values = changed(values, where, ...)
        elif kind == "unknown":
            values = changed(values, f"{where}surplus_field", 1)
        else:
            values = changed(values, where, {"not": ["a", "value"]})
    message = refused(tmp_path, values)
    lines = message.splitlines()
    paths = []
    for line in lines:
        source, path, _text = line.split(": ", 2)
        assert source == str(tmp_path / "bad.yaml"), line
        # Each line names a field of the spec, or the unknown one that was added.
        assert path.split(".")[0] in ModelSpec.model_fields or path.endswith("surplus_field"), line
        paths.append(path)
    for kind, where in breaks:
        if kind == "unknown":  # an unknown field is named exactly
            assert any(path == f"{where}surplus_field" for path in paths) or len(breaks) > 1, message
    # Some line is about a broken place: the field itself, a parent of it, or the section it is in.
    sections = {where.split(".")[0] for _, where in breaks}
    assert any(path.split(".")[0] in sections or any(path.startswith(w) for _, w in breaks) for path in paths) or (
        {"hyperband", "objective"} & {p.split(".")[0] for p in paths}  # checks that read other sections
    ), message
    record("bad input refused, naming the field", "generated broken specs", 1)


# ---------------------------------------------------------------------------------------------- the DAGs


def test_the_params_form_comes_from_the_table_with_the_specs_defaults():
    from include.dag_factory import airflow_params

    for spec in (FLIGHT, HOTEL):
        params = airflow_params(spec)
        assert list(params) == [row.name for row in PARAM_TABLE]
        for row in PARAM_TABLE:
            schema = params[row.name].schema
            assert schema["title"] == row.title and schema["section"] == row.section, row.name
            assert params[row.name].value == defaults(spec)[row.name], row.name
        # Optional fields are nullable, so the form does not mark them required.
        assert "null" in params["parent_tuning_jobs"].schema["type"]
        assert "null" in params["holdout_date"].schema["type"]
        assert set(params["strategy"].schema["values_display"]) == set(params["strategy"].schema["enum"])
    assert airflow_params(FLIGHT)["smoke_threshold"].schema["maximum"] == 1  # AUC
    assert "maximum" not in airflow_params(HOTEL)["smoke_threshold"].schema  # RMSE has no upper end


def test_a_spec_without_a_grid_or_hyperband_offers_neither():
    from include.dag_factory import airflow_params

    assert airflow_params(spec_from_mapping(MINIMAL))["strategy"].schema["enum"] == ["Bayesian", "Random"]


def _dagbag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def test_a_broken_spec_is_an_import_error_of_its_own_dag_file_only(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    dags = tmp_path / "dags"
    dags.mkdir()
    write_dag_file(dags, write(good, MINIMAL))
    write_dag_file(dags, write(bad, changed(MINIMAL | {"name": "broken"}, "ranges.eta.min", 9), "broken"))
    bag = _dagbag(dags)
    assert set(bag.dag_ids) == {"tiny_nightly", "tiny_on_new_data", "tiny_ingest"}
    assert list(bag.import_errors) == [str(dags / "broken.py")]
    assert (
        f"{bad / 'broken.yaml'}: ranges.eta: min (9) is above max (0.5)" in bag.import_errors[str(dags / "broken.py")]
    )


def test_the_shipped_specs_folder_has_no_stray_files():
    """Every spec in include/models loads (a name clash or a broken spec would fail its DAG file)."""
    for path in sorted(SPECS.glob("*.y*ml")):
        assert load_spec(path).name == path.stem, path
