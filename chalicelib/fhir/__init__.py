"""HL7 FHIR R4 resources as plain dicts: the SMART Scheduling Links feed and Helsenorge appointments.

Only plain dicts here (no fhir.resources in Lambda): the tests and the local Helsenorge stand-in
parse what we build with fhir.resources' R4B models. Mapping and choices: docs/standards.md.
"""
