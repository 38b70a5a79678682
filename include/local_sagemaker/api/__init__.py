"""Wire format only: JSON 1.1 and REST dispatch, request validation, error serialization. No state."""
