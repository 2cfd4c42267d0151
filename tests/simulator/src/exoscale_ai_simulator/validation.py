"""Request body validation against the OpenAPI spec shipped beside this file.

Covers the JSON-schema subset the AI spec uses: $ref, type, required, properties, items, enum,
minimum/maximum, minLength/maxLength, pattern, minProperties, nullable and format uuid. Request
bodies may not carry properties the schema does not declare (the API rejects unknown fields).
"""
import json
import re
from pathlib import Path

SPEC_PATH = Path(__file__).with_name("exoscale-ai-openapi.json")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


class ValidationError(Exception):
    def __init__(self, field, message):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def load_spec():
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


def is_uuid(value):
    return isinstance(value, str) and bool(_UUID.match(value))


class SpecValidator:
    def __init__(self, spec=None):
        self.spec = spec or load_spec()

    def resolve(self, schema):
        while "$ref" in schema:
            node = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def request_schema(self, method, template):
        operation = self.spec["paths"][template][method.lower()]
        return operation["requestBody"]["content"]["application/json"]["schema"]

    def validate_request(self, method, template, body):
        self.validate(body, self.request_schema(method, template), "")

    def validate(self, value, schema, field):
        schema = self.resolve(schema)
        if value is None:
            if schema.get("nullable"):
                return
            raise ValidationError(field, "must not be null")
        self._check_type(value, schema.get("type"), field)
        if "enum" in schema and value not in schema["enum"]:
            raise ValidationError(field, f"invalid value {value!r}, allowed values: {', '.join(map(str, schema['enum']))}")
        if isinstance(value, str):
            self._check_string(value, schema, field)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_number(value, schema, field)
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.validate(item, schema["items"], f"{field}[{index}]")
        elif isinstance(value, dict):
            self._check_object(value, schema, field)

    @staticmethod
    def _check_type(value, expected, field):
        if expected is None:
            return
        if expected == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, _TYPES[expected])
        if not ok:
            raise ValidationError(field, f"must be of type {expected}")

    @staticmethod
    def _check_string(value, schema, field):
        if len(value) < schema.get("minLength", 0):
            raise ValidationError(field, f"must be at least {schema['minLength']} character(s) long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationError(field, f"must be at most {schema['maxLength']} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ValidationError(field, f"must match the pattern {schema['pattern']}")
        if schema.get("format") == "uuid" and not is_uuid(value):
            raise ValidationError(field, "must be a UUID")

    @staticmethod
    def _check_number(value, schema, field):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(field, f"must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(field, f"must be <= {schema['maximum']}")

    def _check_object(self, value, schema, field):
        properties = schema.get("properties", {})
        prefix = f"{field}." if field else ""
        if len(value) < schema.get("minProperties", 0):
            raise ValidationError(field, f"must have at least {schema['minProperties']} of: {', '.join(properties)}")
        for name in schema.get("required", []):
            if name not in value:
                raise ValidationError(prefix + name, "is required")
        for name, item in value.items():
            if name not in properties:
                raise ValidationError(prefix + name, f"unknown field, allowed fields: {', '.join(properties)}")
            self.validate(item, properties[name], prefix + name)
