/* Test double of an SFU plugin's player: takes over embeds that carry a WHEP URL. */
document.addEventListener("portal:embed", function (event) {
  var embed = event.detail.target.embed;
  if (!embed.whep) return;
  event.preventDefault();
  var note = document.createElement("p");
  note.id = "fake-sfu";
  note.textContent = (event.detail.manager ? "Publishing to " + embed.whip : "Watching " + embed.whep);
  event.detail.container.appendChild(note);
});
