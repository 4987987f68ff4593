/* Feedback summary for the teacher: GET /api/classes/<id>/feedback
 * -> {count, average, distribution?: {"1": n...}, comments?: [{rating, comment, created_at}]}. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", async () => {
    const section = document.getElementById("feedback-summary");
    if (!section) return;
    const body = document.getElementById("feedback-summary-body");
    try {
      const data = await Portal.api("GET", "/api/classes/" + section.dataset.classId + "/feedback");
      const count = data.count || 0;
      const parts = [Portal.el("p", { text: count ? "Average " + Number(data.average).toFixed(1) + " / 5 from " + count + " rating" + (count === 1 ? "" : "s") + "." : "No rating yet." })];
      const comments = (data.comments || []).filter((c) => c.comment);
      if (comments.length) parts.push(Portal.el("ul", { class: "plain" }, comments.map((c) => Portal.el("li", {}, c.rating + "/5: ", Portal.el("q", { text: c.comment })))));
      body.replaceChildren(...parts);
    } catch (err) { body.replaceChildren(Portal.el("p", { class: "error", text: err.message })); }
  });
})();
