/* Rating after class: PUT /api/schedules/<id>/feedback {rating 1-5, comment} (creates or
 * replaces yours); GET .../feedback/mine prefills it. Shown when the class has ended. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("feedback");
    if (!section) return;
    const sid = section.dataset.scheduleId;
    const form = document.getElementById("feedback-form");
    const errorBox = form.querySelector("[data-panel-error]");

    async function prefill() {
      if (section.dataset.mine !== "yes") return;
      try {
        const mine = await Portal.api("GET", "/api/schedules/" + sid + "/feedback/mine");
        const choice = form.querySelector('input[name="rating"][value="' + mine.rating + '"]');
        if (choice) choice.checked = true;
        form.elements.comment.value = mine.comment || "";
        form.querySelector('button[type="submit"]').textContent = Portal.t("Update rating");
      } catch (err) { /* none yet */ }
    }

    document.addEventListener("portal:room-state", (e) => {
      if (e.detail.state === "ended" && section.hidden) { section.hidden = false; prefill(); }
    });
    if (!section.hidden) prefill();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const choice = form.querySelector('input[name="rating"]:checked');
      try {
        if (!choice) throw Portal.invalid("rating", Portal.t("choose a rating from 1 to 5"));
        await Portal.busy(form.querySelector('button[type="submit"]'), () => Portal.api("PUT", "/api/schedules/" + sid + "/feedback",
          { rating: Number(choice.value), comment: form.elements.comment.value }));
        Portal.hideError(errorBox, form);
        form.querySelector("[data-panel-ok]").textContent = Portal.t("Thank you for your rating.");
      } catch (err) { Portal.showError(errorBox, err, form); }
    });
  });
})();
