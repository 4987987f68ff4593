/* Rating after class: POST /api/schedules/<id>/feedback {rating 1-5, comment}. The form
 * appears when the room reports the class ended. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("feedback");
    if (!section) return;
    const form = document.getElementById("feedback-form");
    const errorBox = form.querySelector("[data-panel-error]");
    document.addEventListener("portal:room-state", (e) => { if (e.detail.state === "ended") section.hidden = false; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const choice = form.querySelector('input[name="rating"]:checked');
      try {
        if (!choice) throw Portal.invalid("rating", "choose a rating from 1 to 5");
        await Portal.busy(form.querySelector("button"), () => Portal.api("POST", "/api/schedules/" + section.dataset.scheduleId + "/feedback",
          { rating: Number(choice.value), comment: form.elements.comment.value }));
        Portal.hideError(errorBox, form);
        form.querySelector("[data-panel-ok]").textContent = "Thank you for your rating.";
      } catch (err) { Portal.showError(errorBox, err, form); }
    });
  });
})();
