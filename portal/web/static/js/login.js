/* Sign-in page: a visitor whose short session expired but who still holds a refresh
 * cookie is signed back in silently and sent where they wanted to go. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", async () => {
    if (!Portal.cookie("csrf_refresh_token") || document.querySelector("#login-error")) return;
    try {
      const response = await fetch("/api/auth/refresh", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-TOKEN": Portal.cookie("csrf_refresh_token"), Accept: "application/json" },
      });
      if (!response.ok) return;
      const next = new URLSearchParams(location.search).get("next") || "/";
      location.replace(next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) { /* stay on the form */ }
  });
})();
