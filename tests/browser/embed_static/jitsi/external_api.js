/* Test double of Jitsi's external_api.js: records how the class room called it. Like the
 * IFrame API, it fires videoConferenceJoined once the local participant is in the room, and
 * records executeCommand calls (window.__jitsiCommands); the local microphone and camera
 * start on (isAudioMuted / isVideoMuted answer false) until a toggle command. */
window.JitsiMeetExternalAPI = function (domain, options) {
  window.__jitsiCalls = (window.__jitsiCalls || []).concat([{ domain: domain, roomName: options.roomName, jwt: options.jwt, config: options.configOverwrite }]);
  window.__jitsiCommands = window.__jitsiCommands || [];
  var frame = document.createElement("div");
  frame.id = "fake-jitsi";
  frame.textContent = "Jitsi room " + options.roomName + " on " + domain;
  options.parentNode.appendChild(frame);
  var listeners = {};
  var muted = { audio: false, video: false };
  this.addEventListener = function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); };
  this.executeCommand = function (name) {
    window.__jitsiCommands.push([name].concat([].slice.call(arguments, 1)));
    if (name === "toggleAudio") muted.audio = !muted.audio;
    if (name === "toggleVideo") muted.video = !muted.video;
  };
  this.isAudioMuted = function () { return Promise.resolve(muted.audio); };
  this.isVideoMuted = function () { return Promise.resolve(muted.video); };
  this.dispose = function () {};
  setTimeout(function () {
    (listeners.videoConferenceJoined || []).forEach(function (fn) { fn({ roomName: options.roomName }); });
  }, 0);
};
