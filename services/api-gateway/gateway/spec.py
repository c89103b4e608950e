"""Route metadata for the generated OpenAPI document.

Views declare what they take and give with :func:`operation`; ``gateway.openapi`` walks the
router and builds the document from the same pydantic models the views validate with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])
SPEC_ATTR = "__relay_operation__"


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers."""

    summary: str
    tag: str
    scope: str | None = None
    body: type[BaseModel] | None = None
    multipart: bool = False
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = (400, 401, 403, 404)
    headers: dict[str, str] = field(default_factory=dict)
    produces: str = "application/json"  # the success body's type(s), comma-separated


def operation(**kwargs: Any) -> Callable[[F], F]:
    """Attach an :class:`Operation` to a view."""

    def decorate(view: F) -> F:
        setattr(view, SPEC_ATTR, Operation(**kwargs))
        return view

    return decorate


def operation_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, SPEC_ATTR, None)
