"""SageMaker resources: state machines, validation beyond the wire shape, persistence. No HTTP here."""
