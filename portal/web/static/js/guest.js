/* The guest's room page: ask to enter, wait until the teacher admits (polling the guest's
 * own endpoint: a guest has no socket session), then join the meeting; chat and leave. */
(function () {
  "use strict";

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw Object.assign(new Error(error.message || Portal.t("something went wrong")), {
        status: response.status,
        code: error.code,
      });
    }
    return data;
  }

  function start() {
    const room = document.getElementById("guest-room");
    const scheduleId = room && room.dataset.scheduleId;
    if (!scheduleId) return;
    const status = document.getElementById("guest-status");
    const target = document.getElementById("guest-target");
    const chat = document.getElementById("guest-chat");
    let timer = null;
    let joined = false;

    function show(text) { status.textContent = text; }

    async function join() {
      try {
        const answer = await call("POST", `/api/guest/schedules/${scheduleId}/join`);
        joined = true;
        show(Portal.t("You are in the class."));
        target.replaceChildren();
        const link = document.createElement("a");
        link.href = answer.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = Portal.t("Open the meeting");
        link.id = "guest-meeting-link";
        target.append(link);
        target.hidden = false;
        chat.hidden = false;
      } catch (err) {
        if (err.code === "not_started") show(Portal.t("Admitted: waiting for the teacher to start…"));
        else show(err.message);
        if (err.status === 409) timer = setTimeout(join, 3000);
      }
    }

    async function poll() {
      try {
        const me = await call("GET", "/api/guest/me");
        if (me.status === "admitted") return join();
        if (me.status === "refused") return show(me.message);
        show(Portal.t("Waiting for the teacher to let you in…"));
      } catch (err) {
        return show(err.message);
      }
      timer = setTimeout(poll, 2000);
    }

    call("POST", `/api/guest/schedules/${scheduleId}/knock`).then(poll, (err) => show(err.message));

    chat.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("guest-chat-text");
      const body = input.value.trim();
      if (!body) return;
      try {
        await call("POST", `/api/guest/schedules/${scheduleId}/chat`, { body });
        input.value = "";
      } catch (err) {
        show(err.message);
      }
    });

    document.getElementById("guest-leave").addEventListener("click", async () => {
      clearTimeout(timer);
      try {
        await call("POST", "/api/guest/leave");
      } catch (err) { /* the session ended already: leaving is done either way */ }
      joined = false;
      target.hidden = true;
      chat.hidden = true;
      show(Portal.t("You left the class."));
    });
    void joined;
  }

  document.addEventListener("DOMContentLoaded", start);
})();
