/* Shared helpers for every page: JSON API calls with the JWT cookies and the CSRF
 * double-submit header, readable error display, small DOM utilities. No build step. */
(function () {
  "use strict";

  // The page's language: window.PORTAL_I18N, set by /i18n/<locale>.js (portal/web/scripts_i18n.py).
  const catalog = window.PORTAL_I18N || { messages: {}, plurals: [] };

  function interpolate(text, params) {
    if (!params) return text;
    return text.replace(/%\((\w+)\)[sd]/g, (whole, key) => (key in params ? String(params[key]) : whole));
  }

  function t(message, params) {
    // Portal.t("Saved %(name)s.", {name}): the translation of an English message.
    const found = catalog.messages[message];
    return interpolate(typeof found === "string" && found ? found : message, params);
  }

  function nt(singular, plural, n, params) {
    // Portal.nt("%(num)d reply", "%(num)d replies", n): the locale's plural form; plurals[n]
    // is the form's index for 0..199, and from 200 on the rules only look at n % 100.
    const index = catalog.plurals && catalog.plurals.length ? catalog.plurals[n < 200 ? n : 100 + (n % 100)] : (n === 1 ? 0 : 1);
    const forms = catalog.messages[singular];
    const text = Array.isArray(forms) && forms[index] ? forms[index] : (n === 1 ? singular : plural);
    return interpolate(text, Object.assign({ num: n }, params || {}));
  }

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || [];
    }
  }

  let refreshing = null;
  function refreshSession() {
    // One refresh at a time, shared by every request that found its access token expired.
    if (!refreshing) {
      refreshing = fetch("/api/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-TOKEN": cookie("csrf_refresh_token"), Accept: "application/json" },
      }).then((r) => r.ok).catch(() => false).finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function send(method, url, body) {
    const headers = { Accept: "application/json" };
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-TOKEN"] = cookie("csrf_access_token");
    return fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  }

  async function api(method, url, body) {
    let response;
    try {
      response = await send(method, url, body);
      if (response.status === 401) {
        const peek = await response.clone().json().catch(() => ({}));
        const code = peek.error && peek.error.code;
        if ((code === "token_expired" || code === "not_authenticated") && cookie("csrf_refresh_token") && (await refreshSession())) {
          response = await send(method, url, body);
        }
      }
    } catch (err) {
      throw new ApiError(0, "network", Portal.t("the portal cannot be reached; check your connection and try again"));
    }
    if (response.status === 204) return null;
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const e = (data && data.error) || {};
      let message = e.message || Portal.t("the request failed (HTTP %(status)s)", { status: response.status });
      if (response.status === 401) message += " " + Portal.t("(sign in again)");
      throw new ApiError(response.status, e.code || "http_error", message, e.details);
    }
    return data;
  }

  function items(data) {
    // Lists come either bare or paginated as {items: [...]}.
    if (Array.isArray(data)) return data;
    return (data && Array.isArray(data.items)) ? data.items : [];
  }

  // A chat log stays in message id order (the order the portal stored them) whatever the
  // order of arrival: two realtime processes can deliver a message after a later one of the
  // other's. `item` carries data-message-id; it goes before the first item with a higher id.
  function insertById(list, item) {
    const id = Number(item.dataset.messageId);
    const later = Array.from(list.children).find((other) => Number(other.dataset.messageId) > id);
    list.insertBefore(item, later || null);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clearErrors(form) {
    if (!form) return;
    form.querySelectorAll(".field-error").forEach((n) => n.remove());
    form.querySelectorAll("[aria-invalid]").forEach((n) => {
      n.removeAttribute("aria-invalid");
      const ids = (n.getAttribute("aria-describedby") || "").split(" ").filter((i) => !i.startsWith("err-"));
      if (ids.length) n.setAttribute("aria-describedby", ids.join(" ")); else n.removeAttribute("aria-describedby");
    });
  }

  function fieldError(form, name, message) {
    const input = form && form.querySelector('[name="' + CSS.escape(name) + '"]');
    if (!input) return false;
    const id = "err-" + name.replace(/[^a-z0-9_-]/gi, "_");
    const note = el("p", { class: "field-error", id: id, text: message });
    const anchor = input.closest("label.inline") || input;
    anchor.after(note);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + id).trim());
    return true;
  }

  function showError(box, err, form) {
    // The whole message in the alert box, and each field's message beside its input.
    const message = err instanceof Error ? err.message : String(err);
    if (form) {
      clearErrors(form);
      for (const d of (err && err.details) || []) {
        if (d && d.field) fieldError(form, String(d.field).replace(/^body\./, "").split(".")[0], d.message);
      }
    }
    if (box) {
      box.textContent = message.charAt(0).toUpperCase() + message.slice(1);
      box.hidden = false;
      if (box.scrollIntoView) box.scrollIntoView({ block: "nearest" });
    }
  }

  function hideError(box, form) {
    if (box) { box.hidden = true; box.textContent = ""; }
    clearErrors(form);
  }

  let flashTimer = null;
  function flash(message) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function zone() {
    return document.body.dataset.tz || undefined;
  }

  function formatTime(iso, withDate) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    // The page's language and zone, and the same short time as the server's (Babel's).
    const opts = withDate ? { dateStyle: "medium", timeStyle: "short" } : { timeStyle: "short" };
    try { return new Intl.DateTimeFormat(document.documentElement.lang || undefined, Object.assign({ timeZone: zone() }, opts)).format(d); }
    catch (err) { return d.toLocaleString(); }
  }

  async function busy(button, work) {
    // Disable a button while its request runs so a double click cannot send twice.
    if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
    try { return await work(); }
    finally { if (button) { button.disabled = false; button.removeAttribute("aria-busy"); } }
  }

  function wireLogout() {
    document.querySelectorAll("form[data-logout]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        // Revoke the tokens server-side, then let the plain form clear the cookies.
        try { await send("POST", "/api/auth/logout", {}); } catch (err) { /* still sign out locally */ }
        form.submit();
      });
    });
  }

  function wireFormTokens() {
    // A signed-in page's form carries the session's CSRF token (csrf_field()); the session
    // may have been renewed since the page was rendered, so send the current one.
    document.addEventListener("submit", (event) => {
      const field = event.target.querySelector && event.target.querySelector("input[name=csrf_token]");
      const current = cookie("csrf_access_token");
      if (field && current) field.value = current;
    }, true);
  }

  function wireCopy() {
    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.addEventListener("click", async () => {
        const input = document.querySelector(button.dataset.copy);
        if (!input) return;
        input.select();
        try { await navigator.clipboard.writeText(input.value); flash(Portal.t("Copied.")); }
        catch (err) { document.execCommand && document.execCommand("copy"); }
      });
    });
  }

  function offsetMs(utcMs, tz) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(utcMs));
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second")) - utcMs;
  }

  function zonedIso(date, time, tz) {
    // "2026-12-01" + "09:30" in Europe/Paris -> "2026-12-01T09:30:00+01:00".
    const [y, m, d] = date.split("-").map(Number);
    const [hh, mm] = time.split(":").map(Number);
    const wall = Date.UTC(y, m - 1, d, hh, mm);
    let utc = wall - offsetMs(wall, tz);
    utc = wall - offsetMs(utc, tz); // second pass: the offset at the real instant (DST edges)
    const minutes = Math.round((wall - utc) / 60000);
    const sign = minutes < 0 ? "-" : "+";
    const abs = Math.abs(minutes);
    const pad = (n) => String(n).padStart(2, "0");
    return date + "T" + pad(hh) + ":" + pad(mm) + ":00" + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  function checkZone(tz) {
    try { new Intl.DateTimeFormat("en-US", { timeZone: tz }); return true; } catch (err) { return false; }
  }

  function zonedParts(iso, tz) {
    // An instant as {date: "YYYY-MM-DD", time: "HH:MM"} on the wall clock of `tz`.
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(new Date(iso));
    const get = (type) => parts.find((p) => p.type === type).value;
    return { date: get("year") + "-" + get("month") + "-" + get("day"), time: get("hour") + ":" + get("minute") };
  }

  function roomBlocked() {
    // The class room page says so when the user is blocked: panels then stay quiet.
    const room = document.getElementById("room");
    return !!room && room.dataset.blocked === "yes";
  }

  function flashNext(message) {
    // A message for the next page (after a redirect), e.g. "Class created".
    try { sessionStorage.setItem("portal.flash", message); } catch (err) { /* private mode */ }
  }

  function showPendingFlash() {
    let message = null;
    try { message = sessionStorage.getItem("portal.flash"); sessionStorage.removeItem("portal.flash"); } catch (err) { return; }
    if (message) flash(message);
  }

  function invalid(field, message) {
    // A client-side validation failure shaped like the API's, so showError handles both.
    return new ApiError(400, "validation_failed", message, [{ field: field, message: message }]);
  }

  window.Portal = { t, nt, api, items, cookie, ApiError, el, insertById, showError, hideError, clearErrors, flash, flashNext, formatTime, busy, invalid, zonedIso, zonedParts, checkZone, roomBlocked, refreshSession };
  document.addEventListener("DOMContentLoaded", () => {
    wireLogout(); wireFormTokens(); wireCopy(); showPendingFlash();
    // Every deferred page script has run and bound its buttons by now (they all run before
    // this event); until then portal.css keeps script-only buttons from taking a click
    // that would do nothing.
    document.documentElement.dataset.scripts = "ready";
  });
})();
