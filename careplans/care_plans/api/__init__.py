"""The care plans API."""
