/* Slides and the whiteboard of the class room (panel/board.html), on backends without a
 * presentation of their own. The teacher presents a deck of the class (or the blank board)
 * and turns pages; every viewer follows. A student may browse back and forth locally: the
 * viewer then offers "Follow the teacher" (its label says where the teacher is) and a page
 * turn does not move them. Strokes are vector data (points in 0..1 of the page) sent over
 * the socket (REST when it is down) and painted on a canvas over the page image.
 * State: the join ack's `presentation`; events slides:page, board:stroke, board:erased,
 * board:cleared; the highest `revision` wins, whatever the order of arrival. After
 * painting, #slide-view carries data-slide-id / data-page / data-painted-strokes (what is
 * on screen). Rules are the core's: portal/core/presentations.py. */
(function () {
  "use strict";
  const POLL_MS = 3000;
  const WIDTHS = [480, 960, 1600];
  const MAX_POINTS = 2000;
  const HIGHLIGHTER_ALPHA = 96 / 255;
  const TEXT_SIZE_FACTOR = 8;

  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-board");
    if (!panel || Portal.roomBlocked()) return;
    const sid = Number(panel.dataset.scheduleId);
    const classId = panel.dataset.classId;
    const me = Number(panel.dataset.userId);
    const manager = panel.dataset.manager === "yes";
    const text = (name, values) => (panel.dataset["text" + name] || "").replace(/\{(\w+)\}/g, (_m, k) => String(values[k]));
    const $ = (id) => document.getElementById(id);
    const errorBox = panel.querySelector("[data-panel-error]");
    const view = $("slide-view");
    const img = $("slide-img");
    const canvas = $("board-canvas");
    const ctx = canvas.getContext("2d");
    const live = () => (window.Portal.live && window.Portal.live.connected ? window.Portal.live : null);

    let presented = null; // the server's state: {active, slide_id, board, page, page_count, co_presenting}
    let mayPresent = false;
    let shown = null; // what this viewer shows: {slide_id, page, page_count}
    let following = true;
    let strokes = [];
    let drawing = null;
    let fallback = null;  // the REST polling while the socket is down (Portal.restFallback)

    const sameSurface = (a, b) => !!a && !!b && (a.slide_id || null) === (b.slide_id || null) && a.page === b.page;

    // --- talking to the core: the socket when connected, else REST -----------------------

    function call(event, payload, method, path, body) {
      const socket = live();
      if (socket) return socket.call(event, { schedule_id: sid, ...payload });
      return Portal.api(method, "/api/schedules/" + sid + path, body);
    }

    async function act(work) {
      Portal.hideError(errorBox);
      try { return await work(); } catch (err) { Portal.showError(errorBox, err); return null; }
    }

    async function loadStrokes(surface) {
      const query = "?page=" + surface.page + (surface.slide_id ? "&slide_id=" + surface.slide_id : "");
      const answer = await call("board:strokes", { slide_id: surface.slide_id || null, page: surface.page },
        "GET", "/strokes" + query);
      return Array.isArray(answer) ? answer : answer.strokes;
    }

    // --- state ---------------------------------------------------------------------------

    // The core raises `revision` with every change: a state older than the one shown (a
    // join ack or a refresh read before the teacher's change, arriving after its answer or
    // push) would take the viewer back, so it is dropped.
    const stale = (state) => !!presented && state.revision < presented.revision;

    function applyState(state, pageStrokes) {
      if (stale(state)) {
        // A student's may_present also follows the floor, which has no revision: an older
        // answer that disagrees with ours may know of a grant we missed, so ask again (the
        // new answer is at least as new as what we show).
        if (!manager && typeof state.may_present === "boolean" && state.may_present !== mayPresent) refreshState();
        return;
      }
      const before = presented;
      presented = state;
      if (typeof state.may_present === "boolean") mayPresent = state.may_present;
      if (!state.active) { shown = null; render(); return; }
      const target = { slide_id: state.slide_id, page: state.page, page_count: state.page_count };
      if (!following && before && (before.slide_id || null) !== (state.slide_id || null)) following = true;
      if (following || mayPresent || !shown) {
        following = true;
        show(target, pageStrokes);
      } else {
        if (sameSurface(shown, target)) shown.page_count = target.page_count;
        render();
      }
    }

    async function show(surface, knownStrokes) {
      const changed = !sameSurface(shown, surface);
      shown = { ...surface };
      if (knownStrokes) strokes = knownStrokes.slice();
      else if (changed) strokes = [];
      render();
      if (!knownStrokes && changed) {
        const wanted = shown;
        try {
          const fetched = await loadStrokes(wanted);
          if (shown === wanted) { strokes = fetched; paint(); }
        } catch (err) { Portal.showError(errorBox, err); }
      }
    }

    async function refreshState() {
      try {
        const state = await call("slides:state", {}, "GET", "/presentation");
        const data = state.presentation || state;
        applyState(data, following ? data.strokes : null);
      } catch (err) {
        if ((err.status === 403 || err.status === 404) && fallback) fallback.stop();
      }
    }

    // --- rendering -----------------------------------------------------------------------

    function render() {
      const active = !!(presented && presented.active && shown);
      $("board-empty").hidden = active;
      $("board-body").hidden = !active;
      if (!active) return;
      const board = !shown.slide_id;
      const label = text(board ? "BoardPage" : "Page", { page: shown.page, count: shown.page_count });
      $("board-page-label").textContent = label;
      $("board-prev").disabled = shown.page <= 1;
      // Presenters on the blank board add a page by turning past the last one.
      $("board-next").disabled = shown.page >= shown.page_count && !(board && mayPresent && following);
      const follow = $("board-follow");
      if (follow) {
        const off = !sameSurface(shown, presented);
        follow.hidden = !off;
        follow.textContent = off ? text("Follow", {}) + " · " + text("TeacherOn", { page: presented.page }) : text("Follow", {});
      }
      $("board-tools").hidden = !(mayPresent && following);
      view.classList.toggle("board-page", board);
      view.dataset.slideId = board ? "" : String(shown.slide_id);
      view.dataset.page = String(shown.page);
      if (board) {
        img.hidden = true;
        img.removeAttribute("src");
        paint();
      } else {
        const width = WIDTHS.find((w) => w >= view.clientWidth * (window.devicePixelRatio || 1)) || WIDTHS[WIDTHS.length - 1];
        const src = "/api/slides/" + shown.slide_id + "/pages/" + shown.page + "?width=" + width;
        img.hidden = false;
        img.alt = label;
        if (img.getAttribute("src") !== src) {
          view.dataset.paintedStrokes = "";
          img.setAttribute("src", src);
        } else if (img.complete) paint();
      }
    }

    function sizeCanvas() {
      const ratio = window.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(view.clientWidth * ratio));
      const h = Math.max(1, Math.round(view.clientHeight * ratio));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    }

    function rgba(hex, alpha) {
      const n = parseInt(hex.slice(1), 16);
      return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
    }

    // The same geometry as the export (presentations.draw_strokes): widths relative to the page width.
    function paintStroke(s) {
      const w = canvas.width;
      const h = canvas.height;
      const highlighter = s.tool === "highlighter";
      const line = Math.max(1, Math.round(s.width * w * (highlighter ? 3 : 1)));
      const colour = rgba(s.color, highlighter ? HIGHLIGHTER_ALPHA : 1);
      const pts = s.points.map(([x, y]) => [x * w, y * h]);
      ctx.save();
      ctx.lineWidth = line;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      if (s.tool === "pen" || highlighter) {
        if (pts.length === 1) {
          ctx.beginPath(); ctx.arc(pts[0][0], pts[0][1], line / 2, 0, 2 * Math.PI); ctx.fill();
        } else {
          ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]);
          for (const [x, y] of pts.slice(1)) ctx.lineTo(x, y);
          ctx.stroke();
        }
      } else if (s.tool === "line") {
        ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]); ctx.lineTo(pts[1][0], pts[1][1]); ctx.stroke();
      } else if (s.tool === "rect") {
        ctx.lineCap = "butt"; ctx.lineJoin = "miter";
        ctx.strokeRect(Math.min(pts[0][0], pts[1][0]), Math.min(pts[0][1], pts[1][1]),
          Math.abs(pts[1][0] - pts[0][0]), Math.abs(pts[1][1] - pts[0][1]));
      } else if (s.tool === "ellipse") {
        ctx.beginPath();
        ctx.ellipse((pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2,
          Math.abs(pts[1][0] - pts[0][0]) / 2, Math.abs(pts[1][1] - pts[0][1]) / 2, 0, 0, 2 * Math.PI);
        ctx.stroke();
      } else if (s.tool === "text") {
        ctx.font = Math.max(10, line * TEXT_SIZE_FACTOR) + "px sans-serif";
        ctx.textBaseline = "alphabetic";
        ctx.fillText(s.text, pts[0][0], pts[0][1]);
      }
      ctx.restore();
    }

    function paint() {
      sizeCanvas();
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      for (const s of strokes) paintStroke(s);
      if (drawing && drawing.points.length) paintStroke(drawing);
      view.dataset.paintedStrokes = String(strokes.length);
    }

    img.addEventListener("load", paint);
    window.addEventListener("resize", () => { if (shown) paint(); });

    // --- page turns ----------------------------------------------------------------------

    async function go(page) {
      if (!shown) return;
      if (mayPresent && following) {
        const answer = await act(() => call("slides:turn", { page }, "POST", "/presentation/page", { page }));
        if (answer) applyState(answer.presentation || answer);
        return;
      }
      if (page < 1 || page > shown.page_count) return;
      // Browsing alone: the teacher's page turns no longer move this viewer.
      following = false;
      show({ ...shown, page });
    }

    $("board-prev").addEventListener("click", () => go(shown.page - 1));
    $("board-next").addEventListener("click", () => go(shown.page + 1));
    const follow = $("board-follow");
    if (follow) {
      follow.addEventListener("click", () => {
        following = true;
        show({ slide_id: presented.slide_id, page: presented.page, page_count: presented.page_count });
        view.focus();
      });
    }
    view.addEventListener("keydown", (e) => {
      if (!shown) return;
      if (e.key === "ArrowRight" || e.key === "PageDown") { e.preventDefault(); go(shown.page + 1); }
      else if (e.key === "ArrowLeft" || e.key === "PageUp") { e.preventDefault(); go(shown.page - 1); }
    });

    // --- drawing -------------------------------------------------------------------------

    function at(event) {
      const box = canvas.getBoundingClientRect();
      const clamp = (v) => Math.min(1, Math.max(0, v));
      return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
    }

    function canDraw() { return mayPresent && following && shown && sameSurface(shown, presented); }

    function thinned(points) {
      if (points.length <= MAX_POINTS) return points;
      const step = points.length / MAX_POINTS;
      const out = [];
      for (let i = 0; i < MAX_POINTS - 1; i++) out.push(points[Math.floor(i * step)]);
      out.push(points[points.length - 1]);
      return out;
    }

    async function send(stroke) {
      const body = { ...stroke, slide_id: shown.slide_id || null, page: shown.page };
      const answer = await act(() => call("board:stroke", { stroke: body }, "POST", "/strokes", body));
      if (answer) addStroke(answer.stroke || answer);
    }

    function addStroke(s) {
      if (!sameSurface(shown, s) || strokes.some((x) => x.id === s.id)) return;
      strokes.push(s);
      paint();
    }

    function hit(point) {
      const w = canvas.width;
      const h = canvas.height;
      const near = (a, b) => Math.hypot((a[0] - b[0]) * w, (a[1] - b[1]) * h);
      for (let i = strokes.length - 1; i >= 0; i--) {
        const s = strokes[i];
        const reach = Math.max(8, s.width * w * 2);
        let pts = s.points;
        if (s.tool === "rect" || s.tool === "ellipse" || s.tool === "line") {
          const [[x0, y0], [x1, y1]] = pts;
          pts = [];
          for (let t = 0; t <= 1.0001; t += 0.05) pts.push([x0 + (x1 - x0) * t, y0], [x0 + (x1 - x0) * t, y1], [x0, y0 + (y1 - y0) * t], [x1, y0 + (y1 - y0) * t], [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t]);
        }
        if (pts.some((p) => near(p, point) <= reach)) return s;
      }
      return null;
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (!canDraw()) return;
      const tool = $("board-tool").value;
      const point = at(event);
      if (tool === "eraser") {
        const target = hit(point);
        if (target) act(() => call("board:erase", { stroke_id: target.id }, "DELETE", "/strokes/" + target.id));
        return;
      }
      const base = { tool, color: $("board-color").value, width: Number($("board-width").value) };
      if (tool === "text") {
        const words = window.prompt(text("TextPrompt", {}));
        if (words && words.trim()) send({ ...base, points: [point], text: words.slice(0, 500) });
        return;
      }
      drawing = { ...base, points: [point] };
      canvas.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const point = at(event);
      if (drawing.tool === "pen" || drawing.tool === "highlighter") {
        const last = drawing.points[drawing.points.length - 1];
        if (Math.hypot(point[0] - last[0], point[1] - last[1]) < 0.002) return;
        drawing.points.push(point);
      } else {
        drawing.points = [drawing.points[0], point];
      }
      paint();
    });
    function finish(event) {
      if (!drawing) return;
      const done = drawing;
      drawing = null;
      if (done.tool !== "pen" && done.tool !== "highlighter") done.points = [done.points[0], at(event)];
      done.points = thinned(done.points);
      paint();
      send(done);
    }
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", () => { drawing = null; paint(); });

    $("board-undo").addEventListener("click", () => act(() => call("board:undo", {}, "POST", "/strokes/undo")));
    const clear = $("board-clear");
    if (clear) {
      clear.addEventListener("click", () => {
        if (!window.confirm(text("ClearConfirm", {}))) return;
        act(() => call("board:clear", {}, "DELETE", "/strokes"));
      });
    }

    // --- the teacher's controls ----------------------------------------------------------

    if (manager) {
      const deck = $("board-deck");
      Portal.api("GET", "/api/classes/" + classId + "/slides").then((decks) => {
        for (const d of Portal.items(decks)) deck.append(Portal.el("option", { value: String(d.id), text: d.filename }));
        if (presented && presented.slide_id) deck.value = String(presented.slide_id);
      }).catch((err) => Portal.showError(errorBox, err));
      $("board-present-btn").addEventListener("click", async () => {
        const slideId = deck.value ? Number(deck.value) : null;
        const body = slideId ? { slide_id: slideId } : {};
        const answer = await act(() => Portal.busy($("board-present-btn"),
          () => call("slides:present", { slide_id: slideId }, "PUT", "/presentation", body)));
        if (answer) applyState(answer.presentation || answer);
      });
      $("board-co-present").addEventListener("change", async (e) => {
        const allowed = e.target.checked;
        const answer = await act(() => call("slides:co-present", { allowed }, "PUT", "/presentation/co-presenting", { allowed }));
        if (answer) applyState(answer.presentation || answer); else e.target.checked = !allowed;
      });
    }

    function syncControls() {
      const box = $("board-co-present");
      if (box && presented) box.checked = !!presented.co_presenting;
    }

    // --- live events ---------------------------------------------------------------------

    const socket = window.Portal.live;
    if (socket) {
      socket.on("live:joined", (ack) => {
        if (ack.presentation) { applyState(ack.presentation, following ? ack.presentation.strokes : null); syncControls(); }
      });
      socket.on("slides:page", (data) => {
        if (data.schedule_id !== sid || stale(data)) return;
        const permission = !manager && presented && data.co_presenting !== presented.co_presenting;
        applyState({ ...data, may_present: manager ? true : mayPresent && data.co_presenting });
        syncControls();
        if (permission) refreshState();
      });
      socket.on("board:stroke", (data) => { if (data.schedule_id === sid) addStroke(data.stroke); });
      socket.on("board:erased", (data) => {
        if (data.schedule_id !== sid || !sameSurface(shown, data)) return;
        strokes = strokes.filter((s) => !data.stroke_ids.includes(s.id));
        paint();
      });
      socket.on("board:cleared", (data) => {
        if (data.schedule_id !== sid || !sameSurface(shown, data)) return;
        strokes = [];
        paint();
      });
      // The floor decides whether a student may co-present: ask again when it changes.
      for (const event of ["floor:granted", "floor:withdrawn"]) {
        socket.on(event, (data) => { if (!manager && data.user && data.user.id === me) refreshState(); });
      }
    }
    fallback = Portal.restFallback({ everyMs: POLL_MS, refresh: refreshState });
  });
})();
