"""`make demo` end to end against the session's local SageMaker: seed, train, deploy, score a held-out day."""

from __future__ import annotations

import re


def test_the_demo_trains_deploys_and_scores_a_held_out_day(local_sagemaker, sm, capsys):
    from include import demo

    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "1. seeded 7 days of flights" in out
    assert re.search(r"validation AUC 0\.\d{4}", out)
    rows = re.findall(r"^\s+\S+\s+[A-Z]{3}-[A-Z]{3}\s+\d\d:\d\d\s+(0\.\d{3})\s+(delayed|on time)$", out, re.M)
    assert len(rows) == 5
    auc = float(re.search(r"held-out AUC (\d\.\d{4}) over (\d+) flights", out).group(1))
    assert 0.5 < auc <= 1.0  # better than chance on a day the model never saw
    endpoint = sm.describe_endpoint(EndpointName=demo.ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"

    # Run again: the endpoint is updated in place (blue/green) to the new model.
    assert demo.main() == 0
    assert "updating endpoint flight-delay-demo" in capsys.readouterr().out
    assert sm.describe_endpoint(EndpointName=demo.ENDPOINT)["EndpointConfigName"] != endpoint["EndpointConfigName"]
