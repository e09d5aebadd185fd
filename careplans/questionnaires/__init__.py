"""Questionnaires sent to patients through PKB: FHIR definitions, answers, scores and the
alerts they raise."""
