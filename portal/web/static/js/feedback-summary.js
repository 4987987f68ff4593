/* Feedback summary for the teacher: GET /api/classes/<id>/feedback/summary
 * -> {count, average, distribution: {"1": n, ...}, items: [{user_name, rating, comment}]}. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", async () => {
    const section = document.getElementById("feedback-summary");
    if (!section) return;
    const body = document.getElementById("feedback-summary-body");
    try {
      const data = await Portal.api("GET", "/api/classes/" + section.dataset.classId + "/feedback/summary");
      const count = data.count || 0;
      const parts = [Portal.el("p", { text: count ? Portal.nt("Average %(average)s / 5 from %(num)d rating.", "Average %(average)s / 5 from %(num)d ratings.", count, { average: Number(data.average).toFixed(1) }) : Portal.t("No rating yet.") })];
      if (count && data.distribution) {
        parts.push(Portal.el("ul", { class: "plain" }, ["5", "4", "3", "2", "1"].map((star) =>
          Portal.el("li", {}, Portal.nt("%(num)d star: %(count)s", "%(num)d stars: %(count)s", Number(star), { count: data.distribution[star] || 0 })))));
      }
      const comments = (data.items || []).filter((c) => c.comment);
      if (comments.length) parts.push(Portal.el("ul", { class: "plain" }, comments.map((c) => Portal.el("li", {},
        c.rating + "/5" + (c.user_name ? " from " + c.user_name : "") + ": ", Portal.el("q", { text: c.comment })))));
      body.replaceChildren(...parts);
    } catch (err) { body.replaceChildren(Portal.el("p", { class: "error", text: err.message })); }
  });
})();
