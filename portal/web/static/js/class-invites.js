/* The Guests section of the class page: make an invite link (POST
 * /api/classes/<id>/invites; its address is shown once, with Copy), list the class's links
 * and revoke one (POST /api/invites/<id>/revoke). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("invites");
    const form = document.getElementById("invite-form");
    if (!section || !form) return;
    const base = "/api/classes/" + section.dataset.classId + "/invites";
    const box = form.querySelector("[data-invite-error]");
    const list = document.getElementById("invite-list");

    function row(link) {
      const what = [link.label || Portal.t("Invite link"), link.has_code ? Portal.t("with a code") : "",
        link.viewer_only ? Portal.t("viewer only") : ""].filter(Boolean).join(", ");
      const until = link.state === "active" ? "until " + Portal.formatTime(link.expires_at) : link.state;
      return Portal.el("li", { dataset: { inviteId: link.id } }, what, " ", Portal.el("span", { class: "badge", text: until }), " ",
        link.state === "active"
          ? Portal.el("button", { type: "button", class: "small secondary", dataset: { revokeInvite: link.id }, text: Portal.t("Revoke") })
          : null);
    }

    async function load() {
      try {
        const links = await Portal.api("GET", base);
        list.replaceChildren(...links.map(row));
      } catch (err) { Portal.showError(box, err); }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      try {
        const hours = Number(form.elements.hours.value);
        const body = {
          expires_at: new Date(Date.now() + hours * 3600 * 1000).toISOString(),
          viewer_only: form.elements.viewer_only.checked,
          label: form.elements.label.value.trim(),
        };
        const code = form.elements.code.value.trim();
        if (code) body.access_code = code;
        const made = await Portal.busy(form.querySelector("button"), () => Portal.api("POST", base, body));
        document.getElementById("invite-url").value = made.url;
        document.getElementById("invite-new").hidden = false;
        form.reset();
        await load();
      } catch (err) { Portal.showError(box, err, form); }
    });

    list.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-revoke-invite]");
      if (!button) return;
      try {
        await Portal.busy(button, () => Portal.api("POST", "/api/invites/" + button.dataset.revokeInvite + "/revoke"));
        Portal.flash(Portal.t("The link no longer works."));
        await load();
      } catch (err) { Portal.showError(box, err); }
    });

    load();
  });
})();
