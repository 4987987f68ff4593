from __future__ import annotations

from flask import Flask, request


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
        # Pages may embed meeting backends (Jitsi iframes): plugins widen frame-src via config.
        frame_src = " ".join(["'self'", *app.config.get("CSP_FRAME_SRC", [])])
        # Browsers also apply form-action to redirects after a form POST (logout handing
        # over to an SSO provider's logout page): plugins widen it via CSP_FORM_ACTION.
        form_action = " ".join(["'self'", *app.config.get("CSP_FORM_ACTION", [])])
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: https:; media-src 'self' blob:; "
            f"script-src 'self' {' '.join(app.config.get('CSP_SCRIPT_SRC', []))}; "
            "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; "
            f"frame-src {frame_src}; frame-ancestors 'self'; base-uri 'self'; form-action {form_action}",
        )
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        return response
