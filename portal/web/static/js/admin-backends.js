/* Admin: meeting backend configurations (GET /api/admin/backend-types for the schemas,
 * POST/PATCH/DELETE /api/admin/backends, POST .../test). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const types = JSON.parse(document.getElementById("backend-types").textContent);
    const configs = JSON.parse(document.getElementById("backend-configs").textContent);
    const byType = Object.fromEntries(types.map((t) => [t.name, t]));
    const box = document.querySelector("[data-form-error]");

    function describe(type) {
      const caps = Object.entries(type.capabilities || {}).filter(([, v]) => v).map(([k]) => k);
      return caps.length ? Portal.t("Can: %(capabilities)s.", { capabilities: caps.join(", ") }) : "";
    }

    const add = document.getElementById("add-form");
    if (add) {
      const sync = () => {
        const type = byType[add.elements.backend.value];
        SchemaForm.render(document.getElementById("add-fields"), type.settings_schema, null, "add", type.field_order);
        document.getElementById("add-capabilities").textContent = describe(type);
        if (!add.elements.name.value) add.elements.name.placeholder = type.label;
      };
      add.elements.backend.addEventListener("change", sync);
      sync();
      add.addEventListener("submit", async (event) => {
        event.preventDefault();
        Portal.hideError(box, add);
        const type = byType[add.elements.backend.value];
        try {
          const name = add.elements.name.value.trim() || type.label;
          const settings = SchemaForm.read(document.getElementById("add-fields"), type.settings_schema, false);
          await Portal.busy(add.querySelector('button[type="submit"]'), () => Portal.api("POST", "/api/admin/backends", {
            name, backend: type.name, settings, enabled: add.elements.enabled.checked, is_default: add.elements.is_default.checked }));
          Portal.flashNext(Portal.t("Meeting system added."));
          location.reload();
        } catch (err) { Portal.showError(box, err, add); }
      });
    }

    const editSection = document.getElementById("edit-section");
    const edit = document.getElementById("edit-form");
    let editing = null;
    edit.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, edit);
      const type = byType[editing.backend];
      try {
        const body = { name: edit.elements.name.value.trim() };
        if (type) body.settings = SchemaForm.read(document.getElementById("edit-fields"), type.settings_schema, true);
        await Portal.busy(edit.querySelector('button[type="submit"]'), () => Portal.api("PATCH", "/api/admin/backends/" + editing.id, body));
        Portal.flashNext(Portal.t("Settings saved."));
        location.reload();
      } catch (err) { Portal.showError(box, err, edit); }
    });
    edit.querySelector("[data-cancel-edit]").addEventListener("click", () => { editSection.hidden = true; });

    const table = document.getElementById("backend-table");
    if (!table) return;
    table.addEventListener("change", async (event) => {
      const input = event.target;
      if (!input.matches("[data-toggle-enabled]")) return;
      const id = input.closest("tr").dataset.configId;
      try {
        await Portal.api("PATCH", "/api/admin/backends/" + id, { enabled: input.checked });
        input.parentElement.lastChild.textContent = input.checked ? "on" : "off";
        Portal.flash(input.checked ? "Enabled." : Portal.t("Disabled: teachers can no longer choose it."));
        Portal.hideError(box);
      } catch (err) { input.checked = !input.checked; Portal.showError(box, err); }
    });
    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const row = button.closest("tr");
      const id = Number(row.dataset.configId);
      const config = configs.find((c) => c.id === id);
      try {
        if (button.hasAttribute("data-test")) {
          const cell = row.querySelector("[data-health]");
          cell.textContent = Portal.t("testing…");
          const result = await Portal.busy(button, () => Portal.api("POST", "/api/admin/backends/" + id + "/test"));
          cell.replaceChildren(Portal.el("span", { class: result.ok ? "ok" : "error", text: result.ok ? Portal.t("OK") : Portal.t("failing") }), " ",
            Portal.el("span", { class: "muted", text: (result.version ? Portal.t("%(message)s (version %(version)s)", { message: result.message, version: result.version }) : result.message) +
              (result.latency_ms != null ? ", " + Math.round(result.latency_ms) + " ms" : "") }));
        } else if (button.hasAttribute("data-edit")) {
          editing = config;
          edit.elements.name.value = config.name;
          document.getElementById("edit-title").textContent = Portal.t("Settings of %(name)s", { name: config.name });
          const type = byType[config.backend];
          if (type) SchemaForm.render(document.getElementById("edit-fields"), type.settings_schema, config.settings, "edit", type.field_order);
          else document.getElementById("edit-fields").replaceChildren(Portal.el("p", { class: "error", text: Portal.t("The plugin for this backend is not installed.") }));
          editSection.hidden = false;
          edit.elements.name.focus();
        } else if (button.hasAttribute("data-make-default")) {
          await Portal.busy(button, () => Portal.api("PATCH", "/api/admin/backends/" + id, { is_default: true }));
          location.reload();
        } else if (button.hasAttribute("data-delete")) {
          if (!confirm(Portal.t("Delete %(name)s?", { name: config.name }))) return;
          await Portal.busy(button, () => Portal.api("DELETE", "/api/admin/backends/" + id));
          row.remove();
          Portal.flash("Deleted.");
        }
        Portal.hideError(box);
      } catch (err) { Portal.showError(box, err); }
    });
  });
})();
