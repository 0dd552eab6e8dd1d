"""Dataclasses as typed JSON objects and CSV rows: the machinery of records.py.

A record's fields are its JSON keys or CSV columns, in order (a field may name its column with
:func:`column`: ``pass`` is a Python keyword), and their annotations are the types: int, float,
bool, str, list[...], dict, a nested record, a Workload, or one of these | None.
:func:`from_dict` checks every key's type and refuses unknown and missing keys with one line
naming the key (:class:`RecordError`). JSON is strict: NaN and infinities are written as null
and a float field reads null back as NaN.

Standard library only (dataclasses, json, math, typing): the ranks import it.
"""
import dataclasses
import json
import math
import types
import typing
from dataclasses import MISSING, field

from convbench.core.errors import UsageError
from convbench.workload.spec import Workload

NAN = math.nan


class RecordError(UsageError):
    """A JSON record or table that does not have the fields and types it should."""


def column(name: str, **kw):
    """A field whose JSON key / CSV column is `name` (``pass`` is a Python keyword)."""
    return field(metadata={"column": name}, **kw)



# ---- field introspection ------------------------------------------------------------------------
def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("column", f.name)


def columns(cls) -> tuple[str, ...]:
    """A record's JSON keys / CSV columns, in field order."""
    return tuple(_key(f) for f in dataclasses.fields(cls))


def _unwrap(tp):
    """(base type, optional?) of a field's annotation: int | None -> (int, True)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else object), True
    return tp, False


def column_kinds(cls) -> dict[str, type]:
    """Column -> int, float, bool, str, list or dict (what a loader checks and coerces)."""
    out = {}
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap(f.type)
        out[_key(f)] = typing.get_origin(tp) or tp
    return out


def pick(cls, *names: str) -> tuple[str, ...]:
    """Some of a record's columns, in the order given (a reader's selection); a name that is
    not a column of the record is a programming error, found at import."""
    unknown = [n for n in names if n not in columns(cls)]
    if unknown:
        raise KeyError(f"{cls.__name__} has no column(s) {', '.join(unknown)}")
    return names


def numeric_columns(cls) -> tuple[str, ...]:
    """The columns that hold numbers (int or float)."""
    return tuple(c for c, k in column_kinds(cls).items() if k in (int, float))


# ---- strict JSON -------------------------------------------------------------------------------
def json_safe(obj):
    """NaN and infinities become null, records become dicts: strict JSON, readable by any tool."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = to_dict(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj, indent: int | None = 2) -> str:
    return json.dumps(json_safe(obj), indent=indent, default=str, allow_nan=False)


def to_dict(rec) -> dict:
    """A record as a dict keyed by its columns (nested records as dicts; a Workload as its
    dict)."""
    out = {}
    for f in dataclasses.fields(rec):
        v = getattr(rec, f.name)
        out[_key(f)] = _plain(v)
    return out


def _plain(v):
    if isinstance(v, Workload):
        return v.to_dict()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _convert(tp, v, where: str):
    """v (from JSON) as type tp, or RecordError naming where it is."""
    base, optional = _unwrap(tp)
    if v is None:
        if base is float:
            return NAN
        if optional:
            return None
        raise RecordError(f"{where} is null, expected {_name(base)}")
    origin = typing.get_origin(base) or base
    if base is Workload:
        if not isinstance(v, dict):
            raise RecordError(f"{where} is {type(v).__name__}, expected an object")
        try:
            return Workload.from_dict(v)
        except (TypeError, ValueError, UsageError) as e:
            raise RecordError(f"{where} is not a valid workload: {str(e).splitlines()[0]}") from None
    if dataclasses.is_dataclass(base):
        if not isinstance(v, dict):
            raise RecordError(f"{where} is {type(v).__name__}, expected an object")
        return from_dict(base, v, where)
    ok = {
        int: lambda x: isinstance(x, int) and not isinstance(x, bool),
        float: lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
        bool: lambda x: isinstance(x, bool),
        str: lambda x: isinstance(x, str),
        list: lambda x: isinstance(x, list),
        dict: lambda x: isinstance(x, dict),
    }.get(origin, lambda x: True)
    if not ok(v):
        raise RecordError(f"{where} is {_kind(v)}, expected {_name(base)}")   # never the value
    if origin is float:
        return float(v)
    if origin is list and typing.get_args(base):
        (item,) = typing.get_args(base)
        return [_convert(item, x, f"{where}[{i}]") for i, x in enumerate(v)]
    return v


def _kind(v) -> str:
    """What a JSON value is, without what it holds (a file's contents are never echoed)."""
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _name(tp) -> str:
    origin = typing.get_origin(tp) or tp
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list", dict: "an object"}.get(origin, getattr(origin, "__name__", str(origin)))


def from_dict(cls, d: dict, where: str = ""):
    """A record from its JSON form: every key typed, none unknown, none missing (where the
    field has no default)."""
    where = where or cls.__name__
    if not isinstance(d, dict):
        raise RecordError(f"{where} is not a JSON object")
    fields = {_key(f): f for f in dataclasses.fields(cls)}
    unknown = [k for k in d if k not in fields]
    if unknown:
        names = [repr(k) if str(k).isidentifier() else "one that is not a name" for k in unknown]
        raise RecordError(f"{where} has unknown key(s) {', '.join(names)}")
    missing = [k for k, f in fields.items() if k not in d
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise RecordError(f"{where} lacks the key(s) {', '.join(map(repr, missing))}")
    kw = {f.name: _convert(f.type, d[k], f"{where}.{k}") for k, f in fields.items() if k in d}
    return cls(**kw)


class Record:
    """JSON in and out for the records below."""

    def to_json(self) -> dict:
        """Strict JSON; an optional field (default None) that is None is left out."""
        d = json_safe(self)
        for f in dataclasses.fields(self):
            if f.default is None and getattr(self, f.name) is None:
                del d[_key(f)]
        return d

    @classmethod
    def from_json(cls, d: dict, where: str = ""):
        return from_dict(cls, d, where)

    @classmethod
    def read(cls, path) -> "typing.Self":
        """A record from a JSON file; RecordError naming the file if it is not one."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise RecordError(f"{path} is unreadable or corrupt: {e}") from None
        return cls.from_json(d, str(path))
