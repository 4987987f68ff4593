/* Polls: GET /api/schedules/<id>/polls (polled) -> [{id, question, status: draft/open/
 * closed, multiple_choice, options: [{id, text}], my_vote: [ids], results_published,
 * results?: {voters, options: [{option_id, text, votes}]}}]. Students vote with
 * POST /api/polls/<poll>/vote {option_ids}; the teacher creates (POST .../polls
 * {question, options, multiple_choice, anonymous}), opens, closes and publishes results
 * (POST /api/polls/<poll>/open|close|publish). */
(function () {
  "use strict";
  const POLL_MS = 4000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-polls");
    if (!panel || Portal.roomBlocked()) return;
    const sid = panel.dataset.scheduleId;
    const manager = panel.dataset.manager === "yes";
    const canPublish = panel.dataset.canPublish === "yes";
    const list = document.getElementById("poll-list");
    const errorBox = panel.querySelector("[data-panel-error]");
    let stopped = false;
    const drafting = new Set(); // polls whose vote form has focus: do not re-render under the user

    function results(poll) {
      const rows = poll.results.options || [];
      const total = rows.reduce((sum, o) => sum + (Number(o.votes) || 0), 0);
      return Portal.el("ul", { class: "plain poll-results" }, rows.map((o) => {
        const votes = Number(o.votes) || 0;
        const pct = total ? Math.round((100 * votes) / total) : 0;
        return Portal.el("li", {}, Portal.el("span", { text: o.text + ": " + votes + " (" + pct + "%)" }),
          Portal.el("meter", { min: 0, max: 100, value: pct, "aria-label": o.text }));
      }));
    }

    function voteForm(poll) {
      const type = poll.multiple_choice ? "checkbox" : "radio";
      const mine = new Set(poll.my_vote || []);
      const form = Portal.el("form", { class: "poll-vote", dataset: { pollId: poll.id } },
        Portal.el("fieldset", {}, Portal.el("legend", { text: poll.question }),
          poll.options.map((o) => Portal.el("label", { class: "inline" },
            Portal.el("input", { type, name: "option", value: o.id, checked: mine.has(o.id) }), " " + o.text))),
        Portal.el("button", { type: "submit", class: "small", text: mine.size ? "Change vote" : "Vote" }));
      form.addEventListener("focusin", () => drafting.add(poll.id));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const ids = [...form.querySelectorAll("input:checked")].map((i) => Number(i.value));
        if (!ids.length) { Portal.showError(errorBox, new Error("choose an answer first")); return; }
        try {
          await Portal.busy(form.querySelector("button"), () => Portal.api("POST", "/api/polls/" + poll.id + "/vote", { option_ids: ids }));
          drafting.delete(poll.id);
          Portal.flash("Vote recorded.");
          Portal.hideError(errorBox);
          refresh(true);
        } catch (err) { Portal.showError(errorBox, err); }
      });
      return form;
    }

    function action(poll, verb, label, body) {
      return Portal.el("button", { type: "button", class: "small secondary", onclick: async (e) => {
        try { await Portal.busy(e.currentTarget, () => Portal.api("POST", "/api/polls/" + poll.id + "/" + verb, body)); refresh(true); }
        catch (err) { Portal.showError(errorBox, err); }
      } }, label);
    }

    function teacherControls(poll) {
      const buttons = [];
      if (poll.status === "draft") buttons.push(action(poll, "open", "Open poll"));
      if (poll.status === "open") buttons.push(action(poll, "close", "Close poll"));
      if (canPublish && poll.status !== "draft") {
        buttons.push(poll.results_published ? action(poll, "publish", "Hide results", { published: false })
          : action(poll, "publish", "Show results to the class", { published: true }));
      }
      return Portal.el("div", { class: "actions" }, buttons);
    }

    function render(polls) {
      if (!polls.length) { list.replaceChildren(Portal.el("p", { class: "muted", text: "No poll yet." })); return; }
      list.replaceChildren(...polls.map((poll) => {
        const voting = !manager && poll.status === "open";
        return Portal.el("article", { class: "poll", dataset: { pollId: poll.id } },
          voting ? null : Portal.el("h3", { text: poll.question + (poll.status !== "open" ? " (" + poll.status + ")" : "") }),
          voting ? voteForm(poll) : null,
          poll.results ? results(poll) : null,
          manager ? teacherControls(poll) : null);
      }));
    }

    async function refresh(force) {
      try {
        const polls = Portal.items(await Portal.api("GET", "/api/schedules/" + sid + "/polls"));
        if (force || !drafting.size) render(polls);
        Portal.hideError(errorBox);
      } catch (err) {
        if (err.status === 403 || err.status === 404) stopped = true;
        Portal.showError(errorBox, err);
      }
      if (!stopped && !force) setTimeout(refresh, POLL_MS);
    }

    const form = document.getElementById("poll-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        Portal.clearErrors(form);
        const question = form.elements.question.value.trim();
        const options = form.elements.options.value.split("\n").map((s) => s.trim()).filter(Boolean);
        try {
          if (!question) throw Portal.invalid("question", "write the question");
          if (options.length < 2) throw Portal.invalid("options", "give at least two answers, one per line");
          await Portal.busy(form.querySelector("button"), async () => {
            const poll = await Portal.api("POST", "/api/schedules/" + sid + "/polls", {
              question, options, multiple_choice: form.elements.multiple_choice.checked, anonymous: form.elements.anonymous.checked });
            if (poll && poll.status === "draft") await Portal.api("POST", "/api/polls/" + poll.id + "/open");
          });
          form.reset();
          Portal.hideError(errorBox, form);
          refresh(true);
        } catch (err) { Portal.showError(errorBox, err, form); }
      });
    }
    document.addEventListener("portal:room-state", (e) => {
      if (e.detail.state === "ended") { stopped = true; list.querySelectorAll("form.poll-vote button").forEach((b) => { b.hidden = true; }); }
    });
    refresh();
  });
})();
