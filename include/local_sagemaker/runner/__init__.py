"""What runs a training job: /opt/ml remapped to a job directory, channels, a subprocess, logs, metrics."""
