/* The waiting room for the class's teachers and assistants: who waits (GET
 * /api/schedules/<id>/lobby, refreshed on every pushed lobby:* event), admit one or all,
 * refuse with a message the waiting person's page shows. Guests (entries with a guest_id,
 * no user_id) are admitted and refused by their guest id. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-lobby");
    if (!panel) return;
    const base = "/api/schedules/" + panel.dataset.scheduleId + "/lobby";
    const list = document.getElementById("lobby-list");
    const box = panel.querySelector("[data-panel-error]");
    const all = document.getElementById("lobby-admit-all");

    // "u12" for user 12, "g3" for guest 3: one data attribute names either.
    const who = (e) => (e.guest_id ? "g" + e.guest_id : "u" + e.user_id);
    function person(key) {
      const id = Number(key.slice(1));
      return key[0] === "g" ? { guest_ids: [id], guest_id: id } : { user_ids: [id], user_id: id };
    }

    function render(entries) {
      list.replaceChildren(...entries.map((e) => Portal.el("li", { dataset: { lobbyUser: who(e) } },
        Portal.el("span", { text: e.name + " " }),
        Portal.el("button", { type: "button", class: "small", dataset: { admit: who(e) } }, Portal.t("Let in"),
          Portal.el("span", { class: "visually-hidden", text: " " + e.name })),
        Portal.el("button", { type: "button", class: "small secondary", dataset: { refuse: who(e) } }, Portal.t("Refuse"),
          Portal.el("span", { class: "visually-hidden", text: " " + e.name })))));
      document.getElementById("lobby-empty").hidden = entries.length > 0;
      document.getElementById("lobby-count").textContent = entries.length ? "(" + entries.length + ")" : "";
      all.hidden = entries.length < 2;
    }

    async function refresh() {
      try { render(await Portal.api("GET", base)); Portal.hideError(box); } catch (err) { Portal.showError(box, err); }
    }

    async function decide(button, path, body) {
      try { await Portal.busy(button, () => Portal.api("POST", base + path, body)); await refresh(); }
      catch (err) { Portal.showError(box, err); }
    }

    panel.addEventListener("click", (event) => {
      const admit = event.target.closest("[data-admit]");
      const refuse = event.target.closest("[data-refuse]");
      if (admit) {
        const { user_ids, guest_ids } = person(admit.dataset.admit);
        decide(admit, "/admit", user_ids ? { user_ids } : { guest_ids });
      }
      if (refuse) {
        const message = prompt(Portal.t("Why can they not come in? (shown to them; optional)"), "");
        const { user_id, guest_id } = person(refuse.dataset.refuse);
        if (message !== null) decide(refuse, "/refuse", user_id ? { user_id, message } : { guest_id, message });
      }
    });
    all.addEventListener("click", () => decide(all, "/admit", {}));
    const live = window.Portal.live;
    if (live) for (const event of ["lobby:waiting", "lobby:admitted", "lobby:refused", "lobby:left"]) live.on(event, refresh);
    refresh();
  });
})();
