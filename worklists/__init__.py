"""Work items and the clinician's worklists."""
