/* The floor panel: a student raises/lowers their hand; the teacher sees the queue (first
 * raised first), grants microphone/camera/screen, withdraws, mutes, lowers all hands.
 * State: GET /api/schedules/<id>/floor. Changes arrive as live events (hand:raised,
 * hand:lowered, hands:lowered, floor:granted, floor:withdrawn, floor:muted) through
 * Portal.live; without a socket the panel polls the state instead and says so. The state
 * and the events carry the floor's `revision` (portal/core/floor.py): the newest state wins,
 * whatever the order the answers come back in. */
(function () {
  "use strict";
  const POLL_MS = 3000;
  const EVENTS = ["hand:raised", "hand:lowered", "hands:lowered", "floor:granted", "floor:withdrawn", "floor:muted"];

  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-hands");
    if (!panel || Portal.roomBlocked()) return;
    const sid = panel.dataset.scheduleId;
    const manager = panel.dataset.manager === "yes";
    const base = "/api/schedules/" + sid;
    const errorBox = panel.querySelector("[data-panel-error]");
    const mode = document.getElementById("hands-mode");
    let stopped = false;
    let state = null;


    async function act(button, method, path, body) {
      Portal.hideError(errorBox);
      try {
        await Portal.busy(button, () => Portal.api(method, base + path, body));
        await refresh();
      } catch (err) { Portal.showError(errorBox, err); }
    }

    function kinds(seat) {
      return [seat.mic && (seat.mic_muted ? "microphone (muted)" : "microphone"), seat.camera && "camera",
        seat.screen && "screen"].filter(Boolean).join(", ");
    }

    function renderStudent(me) {
      const button = document.getElementById("hand-btn");
      button.textContent = me.hand_raised ? Portal.t("Lower hand") : Portal.t("Raise hand");
      button.setAttribute("aria-pressed", me.hand_raised ? "true" : "false");
      const lines = [];
      if (me.hand_raised) lines.push(Portal.t("Your hand is up (%(position)s in line).", { position: me.position }));
      if (me.mic || me.camera || me.screen) lines.push(Portal.t("You have the floor: %(what)s.", { what: kinds(me) }));
      if (me.mic_muted) lines.push(Portal.t("The teacher muted your microphone."));
      document.getElementById("hand-status").textContent = lines.join(" ");
    }

    function seatButton(text, path, body, cls) {
      const b = Portal.el("button", { type: "button", class: "small " + (cls || "secondary"), text });
      b.addEventListener("click", () => act(b, "POST", path, body));
      return b;
    }

    function renderManager(data) {
      const queue = document.getElementById("hands-queue");
      document.getElementById("hands-count").textContent = data.hands.length ? "(" + data.hands.length + ")" : "";
      document.getElementById("hands-empty").hidden = data.hands.length > 0;
      document.getElementById("hands-lower-all").hidden = data.hands.length === 0;
      queue.replaceChildren(...data.hands.map((seat) => {
        const who = { user_id: seat.user.id };
        const lower = Portal.el("button", { type: "button", class: "small secondary", text: Portal.t("Lower") });
        lower.addEventListener("click", () => act(lower, "DELETE", "/hands/" + seat.user.id));
        return Portal.el("li", { dataset: { userId: String(seat.user.id) } }, Portal.el("strong", { text: seat.user.name }), " ",
          seatButton(Portal.t("Grant mic"), "/floor/grant", { ...who, mic: true }),
          seatButton(Portal.t("Grant camera"), "/floor/grant", { ...who, camera: true }),
          seatButton(Portal.t("Grant screen"), "/floor/grant", { ...who, screen: true }), lower);
      }));
      document.getElementById("floor-granted").replaceChildren(...data.granted.map((seat) => {
        const who = { user_id: seat.user.id };
        return Portal.el("li", { dataset: { userId: String(seat.user.id) } },
          Portal.el("strong", { text: seat.user.name }), " ", Portal.el("span", { class: "muted", text: kinds(seat) }), " ",
          seat.mic && !seat.mic_muted ? seatButton(Portal.t("Mute"), "/floor/mute", who) : null,
          seat.mic && seat.mic_muted ? seatButton(Portal.t("Unmute"), "/floor/grant", { ...who, mic: true }) : null,
          !seat.mic ? seatButton(Portal.t("Grant mic"), "/floor/grant", { ...who, mic: true }) : null,
          !seat.camera ? seatButton(Portal.t("Grant camera"), "/floor/grant", { ...who, camera: true }) : null,
          seatButton(Portal.t("Withdraw"), "/floor/withdraw", who, "danger"));
      }));
    }

    async function refresh() {
      try {
        const next = await Portal.api("GET", base + "/floor");
        // A read sent before a change may be answered after the read that followed its push.
        if (state && next.revision < state.revision) return;
        state = next;
        if (manager) renderManager(state); else renderStudent(state.me);
      } catch (err) {
        if (err.status === 403 || err.status === 404) stopped = true;
        Portal.showError(errorBox, err);
      }
    }

    if (manager) {
      const all = document.getElementById("hands-lower-all");
      all.addEventListener("click", () => act(all, "DELETE", "/hands"));
    } else {
      const button = document.getElementById("hand-btn");
      button.addEventListener("click", () => {
        if (state && state.me.hand_raised) act(button, "DELETE", "/hands/me");
        else act(button, "POST", "/hands");
      });
    }
    if (window.Portal.live && typeof window.Portal.live.on === "function") {
      EVENTS.forEach((name) => window.Portal.live.on(name, (payload) => {
        if (stopped || !payload || String(payload.schedule_id) !== String(sid)) return;
        // What is shown already holds every change up to its revision.
        if (!(state && payload.revision <= state.revision)) refresh();
      }));
    }
    document.addEventListener("portal:live-status", (e) => {
      mode.hidden = e.detail.connected;
      mode.textContent = e.detail.connected ? "" : Portal.t("Live updates are unavailable; refreshing every few seconds.");
      if (e.detail.connected) refresh();
    });
    document.addEventListener("portal:room-state", (e) => { if (e.detail.state === "ended") stopped = true; });
    const fallback = Portal.restFallback({
      everyMs: POLL_MS,
      refresh: async () => { await refresh(); if (stopped) fallback.stop(); },
    });
    refresh();
  });
})();
