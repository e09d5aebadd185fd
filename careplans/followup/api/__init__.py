"""The follow-up plan API: a patient's plans."""
