"""One decorator per API endpoint: it validates input with pydantic, checks the JWT, commits
or rolls back, serialises output, and records everything for the OpenAPI document, so the
document and the validation can never disagree."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, jsonify, request
from flask_jwt_extended import get_current_user
from pydantic import BaseModel, ValidationError

from portal.api.validation_messages import problems_of
from portal.auth_setup import verify_request_token
from portal.core import unit_of_work
from portal.core.errors import NotAuthenticated, ValidationFailed
from portal.core.models import User
from portal.extensions import db
from portal.i18n import gettext


@dataclass
class EndpointSpec:
    rule: str
    method: str
    summary: str
    tags: list[str]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    auth: bool
    errors: list[int] = field(default_factory=list)
    # Non-model answers (CSV exports, an empty JSON object): media type -> JSON schema.
    produces: dict[str, dict[str, Any]] | None = None
    # multipart/form-data bodies (uploads), documented only: the view reads request.files.
    form: dict[str, Any] | None = None


ENDPOINTS: list[EndpointSpec] = []


def current_actor() -> User:
    user = get_current_user()
    if user is None:
        raise NotAuthenticated("sign in first")
    return user


def _format_validation(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = problems_of(exc.errors(include_url=False, include_input=False))
    summary = "; ".join(
        gettext("%(field)s: %(problem)s", field=p["field"], problem=p["message"])
        for p in problems[:5]
    )
    return summary, problems


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    auth: bool = True,
    tags: list[str] | None = None,
    errors: list[int] | None = None,
    decorators: list[Callable] | None = None,
    produces: dict[str, dict[str, Any]] | None = None,
    form: dict[str, Any] | None = None,
):
    """Register `view` at `rule`. The view receives `body=` / `query=` models when declared."""

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def handler(**kwargs: Any):
            if auth:
                verify_request_token()
                current_actor()
            if body is not None:
                try:
                    payload = request.get_json(silent=True)
                except RecursionError as exc:  # [[[[... nested deeper than the parser's stack
                    raise ValidationFailed(
                        "the request body is nested too deeply", code="invalid_json"
                    ) from exc
                if not isinstance(payload, dict):
                    raise ValidationFailed(
                        "the request body must be a JSON object", code="invalid_json"
                    )
                try:
                    kwargs["body"] = body.model_validate(payload)
                except ValidationError as exc:
                    message, problems = _format_validation(exc)
                    raise ValidationFailed(message, details=problems) from exc
            if query is not None:
                try:
                    kwargs["query"] = query.model_validate(request.args.to_dict())
                except ValidationError as exc:
                    message, problems = _format_validation(exc)
                    raise ValidationFailed(message, details=problems) from exc
            try:
                result = view(**kwargs)
                unit_of_work.commit()
            except Exception:
                db.session.rollback()
                raise
            if result is None:
                return "", 204
            if isinstance(result, tuple):  # (payload, status) or a full Flask response tuple
                return result
            return jsonify(serialise(result)), status

        for decorator in decorators or []:
            handler = decorator(handler)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=handler, methods=[method])
        ENDPOINTS.append(
            EndpointSpec(
                rule=(bp.url_prefix or "") + rule,
                method=method.lower(),
                summary=summary,
                tags=tags or [bp.name],
                body=body,
                query=query,
                response=response,
                status=204 if response is None and status == 200 and method == "DELETE" else status,
                auth=auth,
                errors=errors or [],
                produces=produces,
                form=form,
            )
        )
        return handler

    return wrap


def serialise(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [serialise(v) for v in value]
    if isinstance(value, dict):
        return {k: serialise(v) for k, v in value.items()}
    return value
