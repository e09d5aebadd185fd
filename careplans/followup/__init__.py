"""Follow-up: pathways and patients' plans, the monitoring rules (``rules/``, pure) and their
schedules, the checks of each result and the chase of overdue tests, the trend charts and the
virtual review with its letter."""
