"""The application object itself behind `flask.current_app`."""

from __future__ import annotations

from flask import Flask, current_app


def current_flask_app() -> Flask:
    """The app, not the context-local proxy: for threads, executors and jobs that outlive the
    request or CLI context that starts them."""
    # Flask annotates current_app as Flask, but it is a werkzeug LocalProxy, and the proxy's
    # _get_current_object is what unwraps it.
    return current_app._get_current_object()  # type: ignore[attr-defined]
