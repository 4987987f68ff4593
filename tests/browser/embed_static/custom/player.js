/* Test double of a backend plugin's room script: registers its mount function. */
window.Portal.rooms.register("custom-player", function (container, ctx) {
  var embed = ctx.embed;
  var note = document.createElement("p");
  note.id = "fake-sfu";
  note.textContent = (ctx.manager ? "Publishing to " + embed.whip : "Watching " + embed.whep);
  container.appendChild(note);
  ctx.say("Custom player for occurrence " + ctx.scheduleId + (ctx.live ? " with the live panel" : ""));
  return Promise.resolve({ unmount: function () { window.__customUnmounted = (window.__customUnmounted || 0) + 1; } });
});
