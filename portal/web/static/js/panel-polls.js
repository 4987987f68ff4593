/* Polls over the page's socket (Portal.live): the join ack lists them ([{id, question,
 * status: draft/open/closed, multiple_choice, options: [{id, text}], my_vote: [ids],
 * results_published, results?: {voters, options: [{option_id, text, votes}]}}]) and
 * `poll:created` (teachers) / `poll:opened` / `poll:closed` / `poll:results` /
 * `poll:unpublished` update them; each part of a poll keeps the newest heard, by the poll's
 * `revision` and its results' (revision, vote_seq) (portal/core/polls.py). Students vote with `poll:vote {poll_id, option_ids}`;
 * the teacher uses `poll:create` / `poll:open` / `poll:close` / `poll:publish`. Only while
 * the socket cannot connect does the panel poll GET /api/schedules/<id>/polls and use the
 * REST actions (POST /api/polls/<poll>/vote|open|close|publish). */
(function () {
  "use strict";
  const POLL_MS = 4000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-polls");
    if (!panel || Portal.roomBlocked()) return;
    const sid = Number(panel.dataset.scheduleId);
    const live = Portal.live;
    const known = new Map(); // poll id -> poll as last heard
    const viaSocket = () => live && live.connected;
    const manager = panel.dataset.manager === "yes";
    const canPublish = panel.dataset.canPublish === "yes";
    const list = document.getElementById("poll-list");
    const errorBox = panel.querySelector("[data-panel-error]");
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
        Portal.el("button", { type: "submit", class: "small", text: mine.size ? Portal.t("Change vote") : Portal.t("Vote") }));
      form.addEventListener("focusin", () => drafting.add(poll.id));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const ids = [...form.querySelectorAll("input:checked")].map((i) => Number(i.value));
        if (!ids.length) { Portal.showError(errorBox, new Error(Portal.t("choose an answer first"))); return; }
        try {
          const answer = await Portal.busy(form.querySelector("button"), () => viaSocket()
            ? live.call("poll:vote", { poll_id: poll.id, option_ids: ids })
            : Portal.api("POST", "/api/polls/" + poll.id + "/vote", { option_ids: ids }));
          drafting.delete(poll.id);
          Portal.flash(Portal.t("Vote recorded."));
          Portal.hideError(errorBox);
          if (answer && answer.my_vote) update({ id: poll.id, my_vote: answer.my_vote });
          else refresh(true);
        } catch (err) { Portal.showError(errorBox, err); }
      });
      return form;
    }

    function action(poll, verb, label, body) {
      return Portal.el("button", { type: "button", class: "small secondary", onclick: async (e) => {
        try {
          const answer = await Portal.busy(e.currentTarget, () => viaSocket()
            ? live.call("poll:" + verb, { poll_id: poll.id, ...(body || {}) })
            : Portal.api("POST", "/api/polls/" + poll.id + "/" + verb, body));
          if (answer && answer.poll) update(answer.poll); else refresh(true);
        } catch (err) { Portal.showError(errorBox, err); }
      } }, label);
    }

    function teacherControls(poll) {
      const buttons = [];
      if (poll.status === "draft") buttons.push(action(poll, "open", Portal.t("Open poll")));
      if (poll.status === "open") buttons.push(action(poll, "close", Portal.t("Close poll")));
      if (canPublish && poll.status !== "draft") {
        buttons.push(poll.results_published ? action(poll, "publish", Portal.t("Hide results"), { published: false })
          : action(poll, "publish", Portal.t("Show results to the class"), { published: true }));
      }
      return Portal.el("div", { class: "actions" }, buttons);
    }

    // The join ack, pushes and refreshes arrive in any order: one read before the teacher
    // opened or closed a poll, or before the latest votes, may come after them, so each part
    // of a poll keeps the newest version heard. Results and my_vote survive what does not
    // carry them (poll:opened / poll:closed are the public view).
    const olderResults = (a, b) => a.revision < b.revision || (a.revision === b.revision && a.vote_seq < b.vote_seq);

    function merged(before, heard) {
      const next = { ...(before || {}) };
      if (!before || heard.revision === undefined || heard.revision >= before.revision) {
        const { results: _r, my_vote: _m, ...rest } = heard;
        Object.assign(next, rest);
      }
      if (heard.results && !(next.results && olderResults(heard.results, next.results))) next.results = heard.results;
      // A ballot is replaced, never withdrawn: an empty one was read before this user voted.
      if (heard.my_vote && (heard.my_vote.length || !(next.my_vote || []).length)) next.my_vote = heard.my_vote;
      if (!manager && !next.results_published) delete next.results;
      return next;
    }

    // always: re-render even while this poll's vote form has focus (results under it).
    function update(change, always) {
      known.set(change.id, merged(known.get(change.id), change));
      if (always || !drafting.has(change.id)) render([...known.values()]);
    }

    function setResults(data) {
      if (!known.has(data.poll_id)) return;
      update({ id: data.poll_id, revision: data.revision, status: data.status, results_published: data.results_published, results: data }, true);
    }

    function replaceAll(polls) {
      // A poll missing from the list was opened after it was read (polls are never deleted).
      for (const p of polls) known.set(p.id, merged(known.get(p.id), p));
      render([...known.values()]);
    }

    function render(polls) {
      polls = [...polls].sort((a, b) => a.id - b.id);
      if (!polls.length) { list.replaceChildren(Portal.el("p", { class: "muted", text: Portal.t("No poll yet.") })); return; }
      list.replaceChildren(...polls.map((poll) => {
        const voting = !manager && poll.status === "open";
        return Portal.el("article", { class: "poll", dataset: { pollId: poll.id } },
          voting ? null : Portal.el("h3", { text: poll.question + (poll.status !== "open" ? " (" + (poll.status === "draft" ? Portal.t("draft") : Portal.t("closed")) + ")" : "") }),
          voting ? voteForm(poll) : null,
          poll.results ? results(poll) : null,
          manager ? teacherControls(poll) : null);
      }));
    }

    // force: after this user's own action, re-render even while a vote form has focus.
    async function load(force) {
      const polls = viaSocket() ? (await live.call("poll:list", { schedule_id: sid })).polls
        : Portal.items(await Portal.api("GET", "/api/schedules/" + sid + "/polls"));
      if (force || !drafting.size) replaceAll(polls);
      Portal.hideError(errorBox);
    }

    function refresh(force) { return load(force).catch((err) => Portal.showError(errorBox, err)); }

    Portal.restFallback({ everyMs: POLL_MS, refresh: () => load(false), onError: (err) => Portal.showError(errorBox, err) });

    const form = document.getElementById("poll-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        Portal.clearErrors(form);
        const question = form.elements.question.value.trim();
        const options = form.elements.options.value.split("\n").map((s) => s.trim()).filter(Boolean);
        try {
          if (!question) throw Portal.invalid("question", Portal.t("write the question"));
          if (options.length < 2) throw Portal.invalid("options", Portal.t("give at least two answers, one per line"));
          const fields = { question, options, multiple_choice: form.elements.multiple_choice.checked, anonymous: form.elements.anonymous.checked };
          const opened = await Portal.busy(form.querySelector("button"), async () => {
            if (viaSocket()) {
              const created = (await live.call("poll:create", { schedule_id: sid, ...fields })).poll;
              return created.status === "draft" ? (await live.call("poll:open", { poll_id: created.id })).poll : created;
            }
            const poll = await Portal.api("POST", "/api/schedules/" + sid + "/polls", fields);
            return poll && poll.status === "draft" ? Portal.api("POST", "/api/polls/" + poll.id + "/open") : poll;
          });
          form.reset();
          Portal.hideError(errorBox, form);
          if (opened && opened.id !== undefined) update(opened); else refresh(true);
        } catch (err) { Portal.showError(errorBox, err, form); }
      });
    }
    document.addEventListener("portal:room-state", (e) => {
      if (e.detail.state === "ended") { list.querySelectorAll("form.poll-vote button").forEach((b) => { b.hidden = true; }); }
    });
    if (!live) return;
    render([]);
    live.on("live:joined", (ack) => replaceAll(ack.polls || []));
    for (const event of ["poll:created", "poll:opened", "poll:closed"]) {
      live.on(event, (poll) => { if (poll.schedule_id === sid) update(poll); });
    }
    live.on("poll:results", (data) => { if (data.schedule_id === sid) setResults(data); });
    live.on("poll:unpublished", (data) => {
      if (known.has(data.poll_id)) update({ id: data.poll_id, revision: data.revision, results_published: false }, true);
    });
  });
})();
