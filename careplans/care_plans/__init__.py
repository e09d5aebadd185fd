"""Care plans: the patient's own plan of care, its sections and versions, written with them
and shared through PKB; and the consent to share it."""
