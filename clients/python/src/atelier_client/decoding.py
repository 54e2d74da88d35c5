"""JSON bodies to the dataclasses of `schemas`, led by their type hints (one decoder for all,
so a new field is one line in `schemas` and nothing here)."""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from atelier_client.errors import AtelierError

T = TypeVar("T")


def decode(cls: type[T], data: Any) -> T:
    """`data` (a JSON object) as an instance of the dataclass `cls`; fields it does not know
    are ignored, a field it needs but that is missing is an `unexpected_response` error."""
    if not isinstance(data, dict):
        raise _unexpected(cls.__name__, "an object", data)
    hints = _field_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        if field.name not in data:
            raise AtelierError(
                f"the service's answer has no '{field.name}' for {cls.__name__}",
                code="unexpected_response",
            )
        values[field.name] = _value(hints[field.name], data[field.name], field.name)
    return cls(**values)


def _field_hints(cls: type) -> dict[str, Any]:
    """The fields' types, from the dataclasses that declare them: a subclass that adds
    behaviour (`Job`) may annotate attributes that are not fields and need not resolve here."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if "__dataclass_fields__" in vars(klass):
            hints.update(get_type_hints(klass))
    return hints


def _value(hint: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))  # only `X | None` is used
        return _value(inner, value, where)
    if value is None:
        raise _unexpected(where, "a value", value)
    if dataclasses.is_dataclass(hint):
        return decode(hint, value)  # type: ignore[arg-type]
    if origin is list:
        return [_value(args[0], item, where) for item in value]
    if origin is dict:
        return dict(value)
    if origin is Literal:
        # A status the service added after this client: kept as it is, not refused.
        return str(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, bool) and type(value) is not hint:
        raise _unexpected(where, hint.__name__, value)
    return value


def _unexpected(where: str, wanted: str, value: Any) -> AtelierError:
    return AtelierError(
        f"the service's answer has {type(value).__name__} for {where}, not {wanted}",
        code="unexpected_response",
    )
