"""The resource library as patients see it: packs of approved resources, shared with a patient
through their care plan or offered from their pathway."""
