"""The questionnaires API."""
