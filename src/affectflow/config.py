"""Config validation against the JSON Schema, with defaults filled in and errors naming the key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from affectflow import registry
from affectflow.errors import ConfigError


def _with_defaults(validator_class: type) -> type:
    """A validator class that fills in ``default`` values of absent properties as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: Mapping, instance: Any, schema: Mapping
    ) -> Iterator:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    default = sub["default"]
                    instance[name] = json.loads(json.dumps(default))  # a fresh copy
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


_JSON_TYPES = {
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
    "array": list,
    "object": dict,
}


def _coerce(instance: Any, schema: Mapping[str, Any]) -> Any:
    """Turn strings into the schema's scalar types the way YAML reads them.

    Snakemake parses nested ``--config`` values with YAML's BaseLoader, so ``{seed: 7}`` arrives
    as the string ``'7'``; this restores ``7`` (and ``true``, ``null``, ...) where the schema
    asks for it, and leaves anything else for the validator to report.
    """
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(instance, str) and "string" not in types and types:
        try:
            value = yaml.safe_load(instance)
        except yaml.YAMLError:
            return instance
        wanted = tuple(t for name in types for t in _as_tuple(_JSON_TYPES.get(name, ())))
        ok = isinstance(value, wanted) and not (isinstance(value, bool) and "boolean" not in types)
        return value if ok else instance
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        return {k: _coerce(v, props[k]) if k in props else v for k, v in instance.items()}
    if isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        return [_coerce(v, schema["items"]) for v in instance]
    return instance


def _as_tuple(t: Any) -> tuple:
    """``t`` as a tuple of types."""
    return t if isinstance(t, tuple) else (t,)


def _key(path: Iterator[Any]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def with_registry(schema: Any) -> Any:
    """``schema`` with the registry's lists filled in: every ``x-registry: <name>`` gets
    ``enum`` and every ``x-registry-default: <name>`` gets ``default`` from
    :data:`affectflow.registry.SCHEMA_LISTS`, so the schema never holds its own copy of the
    task names and classifier ids."""
    if isinstance(schema, list):
        return [with_registry(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: with_registry(value) for key, value in schema.items()}
    if "x-registry" in out:
        out["enum"] = registry.SCHEMA_LISTS[out["x-registry"]]()
    if "x-registry-default" in out:
        out["default"] = registry.SCHEMA_LISTS[out["x-registry-default"]]()
    return out


def load_schema(schema_path: str | Path) -> dict[str, Any]:
    """The config schema, with the registry's enums and defaults (:func:`with_registry`)."""
    return with_registry(yaml.safe_load(Path(schema_path).read_text()))


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Fill defaults into ``config`` in place and check it; raise :class:`ConfigError` naming
    the first offending key (dotted path) and what is allowed there."""
    schema = load_schema(schema_path)
    coerced = _coerce(config, schema)
    config.clear()
    config.update(coerced)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            key = _key(err.absolute_path)
            if err.validator == "additionalProperties":
                unknown = sorted(set(err.instance) - set(err.schema.get("properties", {})))
                known = ", ".join(sorted(err.schema.get("properties", {})))
                parent = "" if key == "<top level>" else f"{key}."
                lines.append(
                    f"config key {parent}{unknown[0]}: unknown key (allowed here: {known}); "
                    "dotted keys like a.b=c are not accepted, use nested YAML: 'a={b: c}'"
                )
            else:
                lines.append(f"config key {key}: {err.message}")
        shown = "/".join(Path(schema_path).parts[-3:])
        raise ConfigError(f"invalid configuration (schema: {shown})\n  " + "\n  ".join(lines))
    return config


def config_hash(section: Any) -> str:
    """A short stable hash of a config section (for manifests and cache keys)."""
    blob = json.dumps(section, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
