"""Follow-up pathways, patients' follow-up plans, care plans, consent and questionnaires."""
