/* Slides: GET /api/classes/<id>/slides -> [{id, filename, size_bytes, page_count}];
 * opening one asks GET /api/slides/<id>/download for a short-lived link; the teacher
 * uploads (multipart field "file") and deletes (DELETE /api/slides/<id>). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("slides");
    if (!section) return;
    const cid = section.dataset.classId;
    const manager = section.dataset.manager === "yes";
    const list = document.getElementById("slide-list");
    const errorBox = section.querySelector("[data-panel-error]");

    function render(rows) {
      if (!rows.length) { list.replaceChildren(Portal.el("li", { class: "muted", text: Portal.t("No slides yet.") })); return; }
      list.replaceChildren(...rows.map((s) => Portal.el("li", {},
        Portal.el("button", { type: "button", class: "link", onclick: async (e) => {
          try {
            const link = await Portal.busy(e.currentTarget, () => Portal.api("GET", "/api/slides/" + s.id + "/download"));
            window.open(link.url, "_blank", "noopener");
          } catch (err) { Portal.showError(errorBox, err); }
        } }, s.filename),
        Portal.el("span", { class: "muted", text: " " + (s.page_count ? s.page_count + " pages, " : "") + Math.ceil((s.size_bytes || 0) / 1024) + " KB " }),
        manager ? Portal.el("button", { type: "button", class: "small secondary", onclick: async (e) => {
          if (!confirm(Portal.t("Delete %(name)s?", { name: s.filename }))) return;
          try { await Portal.busy(e.currentTarget, () => Portal.api("DELETE", "/api/slides/" + s.id)); load(); }
          catch (err) { Portal.showError(errorBox, err); }
        } }, Portal.t("Delete"), Portal.el("span", { class: "visually-hidden", text: " " + s.filename })) : null)));
    }

    async function load() {
      try { render(Portal.items(await Portal.api("GET", "/api/classes/" + cid + "/slides"))); }
      catch (err) { Portal.showError(errorBox, err); }
    }

    const form = document.getElementById("slide-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const file = form.elements.file.files[0];
        try {
          if (!file) throw Portal.invalid("file", Portal.t("choose a PDF file"));
          if (!/\.pdf$/i.test(file.name)) throw Portal.invalid("file", Portal.t("slides must be a PDF file"));
          const data = new FormData();
          data.append("file", file);
          await Portal.busy(form.querySelector("button"), () => Portal.api("POST", "/api/classes/" + cid + "/slides", data));
          form.reset();
          Portal.hideError(errorBox, form);
          Portal.flash(Portal.t("Slides uploaded."));
          load();
        } catch (err) { Portal.showError(errorBox, err, form); }
      });
    }
    load();
  });
})();
