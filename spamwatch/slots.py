"""Fast constructors for the frozen slot dataclasses built once per log line.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__`` (frozen forbids plain assignment): about 0.1 µs per
field. The parser builds an Event for every line a caller uses and the
correlator a Message (18 fields) for every message it hands out, so on a
multi-million-line log that is seconds. ``builder(cls)`` returns a function
taking every field, in order, that sets the slot descriptors directly: the
same object (equal, hashable, frozen afterwards) at about half the cost.
Only for callers that pass every field; defaults and ``__post_init__`` are
not applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of ``cls`` taking all its fields, without ``__init__``.

    Generated like dataclasses' own ``__init__`` (one statement per field),
    because a loop over the fields would cost what it saves.
    """
    if not is_dataclass(cls) or not hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__} is not a slots dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ that a builder would skip")
    names = [f.name for f in fields(cls)]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({', '.join(names)}):", "    obj = _new(_cls)"]
    for name in names:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
        lines.append(f"    _set_{name}(obj, {name})")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)  # field names of our own dataclasses, not input
    build: Callable[..., T] = namespace["build"]
    build.__doc__ = f"Build a {cls.__name__} from all its fields, in order."
    return build
