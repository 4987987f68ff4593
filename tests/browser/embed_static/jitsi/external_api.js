/* Test double of Jitsi's external_api.js: records how the class room called it. */
window.JitsiMeetExternalAPI = function (domain, options) {
  window.__jitsiCalls = (window.__jitsiCalls || []).concat([{ domain: domain, roomName: options.roomName, jwt: options.jwt, config: options.configOverwrite }]);
  var frame = document.createElement("div");
  frame.id = "fake-jitsi";
  frame.textContent = "Jitsi room " + options.roomName + " on " + domain;
  options.parentNode.appendChild(frame);
  this.addEventListener = function () {};
};
