"""The bridge to Patients Know Best: enrolment, outbox, HL7 builders, transport, sandbox."""
