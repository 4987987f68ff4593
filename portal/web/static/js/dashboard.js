/* Join buttons become live when the room opens (the server puts the time in data-opens-at)
 * and disappear once the class is over, without reloading the page. */
(function () {
  "use strict";
  function refresh() {
    const now = Date.now();
    document.querySelectorAll(".join-control").forEach((control) => {
      const opens = Date.parse(control.dataset.opensAt);
      const ends = Date.parse(control.dataset.endsAt);
      const live = control.querySelector(".join-live");
      const early = control.querySelector(".join-early");
      const over = control.querySelector(".join-over");
      const isEarly = now < opens;
      const isOver = now > ends;
      if (live && early) live.hidden = isEarly || isOver;
      else if (live) live.hidden = isOver;
      if (early) early.hidden = !isEarly;
      if (over) over.hidden = !isOver;
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, 15000);
  });
})();
