/* The recording page's teacher controls: PUT /api/recordings/<id>/visibility {visibility}
 * -> {recording, share_link}; POST /api/recordings/<id>/share-link -> {url} (the old link
 * stops working); DELETE /api/recordings/<id>/share-link. A link is shown once: only its
 * hash is stored. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const rid = document.getElementById("recording").dataset.recordingId;
    const select = document.getElementById("recording-visibility");
    const box = document.getElementById("share-link-box");
    const state = document.getElementById("share-link-state");
    const output = document.getElementById("share-link-url");
    const errorBox = document.querySelector("[data-panel-error]");
    const base = "/api/recordings/" + rid;

    function showLink(link) {
      if (!link) return;
      output.replaceChildren(Portal.el("a", { href: link.url, text: link.url }));
      state.textContent = Portal.t("Share this link (it is shown only now):");
    }

    select.addEventListener("change", async () => {
      try {
        const answer = await Portal.api("PUT", base + "/visibility", { visibility: select.value });
        box.hidden = !["link", "published"].includes(answer.recording.visibility);
        showLink(answer.share_link);
      } catch (err) { Portal.showError(errorBox, err); }
    });
    select.disabled = false;  // rendered disabled: a choice before this listener would be lost
    document.getElementById("share-link-new").addEventListener("click", async (e) => {
      try { showLink(await Portal.busy(e.currentTarget, () => Portal.api("POST", base + "/share-link"))); }
      catch (err) { Portal.showError(errorBox, err); }
    });
    document.getElementById("share-link-revoke").addEventListener("click", async (e) => {
      try {
        await Portal.busy(e.currentTarget, () => Portal.api("DELETE", base + "/share-link"));
        output.replaceChildren();
        state.textContent = Portal.t("No share link: every link given out stopped working.");
      } catch (err) { Portal.showError(errorBox, err); }
    });
  });
})();
