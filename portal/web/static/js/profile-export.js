/* Profile, "Your data": POST /api/users/<me>/exports, then GET /api/exports/<id> every
 * second until the zip is ready (or failed); its signed link appears then. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const card = document.getElementById("data-export");
    if (!card) return;
    const box = card.querySelector("[data-form-error]");
    const button = document.getElementById("request-export");
    const state = card.querySelector("[data-export-state]");
    const message = card.querySelector("[data-export-message]");
    const bar = card.querySelector("[data-export-progress]");
    const link = card.querySelector("[data-export-link]");

    function show(job) {
      state.hidden = false;
      message.textContent = card.dataset["text" + job.status.charAt(0).toUpperCase() + job.status.slice(1)] || job.status;
      bar.value = job.percent;
      card.dataset.jobStatus = job.status;
      if (job.status === "ready" && job.download_url) {
        link.href = job.download_url;
        link.hidden = false;
      } else {
        link.hidden = true;
      }
      button.disabled = job.status === "queued" || job.status === "running";
    }

    async function follow(id) {
      for (;;) {
        let job;
        try { job = await Portal.api("GET", "/api/exports/" + id); } catch (err) { Portal.showError(box, err); return; }
        show(job);
        if (job.status === "ready" || job.status === "failed") return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }

    button.addEventListener("click", async () => {
      Portal.hideError(box);
      try {
        const job = await Portal.api("POST", "/api/users/" + card.dataset.userId + "/exports", {});
        show(job);
        follow(job.id);
      } catch (err) { Portal.showError(box, err); }
    });

    if (card.dataset.jobId) follow(card.dataset.jobId);
  });
})();
