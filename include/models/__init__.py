"""The declared models: one `<name>.yaml` tuning spec each (see include/pipeline/spec.py), and where a model's
rows need code to come about, a module of the same name with the function its spec's `data.source` names."""
