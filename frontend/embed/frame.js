// The embedded uploader's link to its host page, inside the <iframe> (served at /embed/frame.js). No upload
// logic: only what has to work before Python is ready, and the one place that talks to the parent window.
// - The host's origin: location.ancestorOrigins[0] (Chromium, WebKit), else the referrer's origin (embed.js
//   creates the iframe with referrerpolicy="origin"). Messages go to that origin only, never to "*".
// - Messages from the parent are taken only from window.parent at that origin: {type: "theme", vars} sets the
//   --ru-* custom properties on :root (embed.css maps them to the page's colours and sizes).
// - The content's height is reported whenever it changes, so the element can grow with it.
// - Python posts the events through window.rtFrame.event(name, detail), ready(detail) and error(detail).
// Every message carries the element's id (from the query) so two uploaders on one page never mix.
(() => {
  "use strict";
  const id = new URLSearchParams(location.search).get("id") || "";
  const THEME = ["accent", "accent-text", "bg", "text", "muted", "line", "ok", "warn", "bad", "radius", "font",
    "font-size"];

  function originOf(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.origin : null;
    } catch {
      return null;
    }
  }

  const ancestors = location.ancestorOrigins;
  const hostOrigin = window.parent === window ? null
    : (ancestors && ancestors.length > 0 ? originOf(ancestors[0]) : null) || originOf(document.referrer);

  function post(type, extra) {
    if (hostOrigin !== null) window.parent.postMessage({ source: "resumable-uploader", id, type, ...extra }, hostOrigin);
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || event.origin !== hostOrigin) return;
    const data = event.data;
    if (!data || data.id !== id || data.type !== "theme" || typeof data.vars !== "object") return;
    const style = document.documentElement.style;
    for (const name of THEME) {
      const value = data.vars[name];
      // setProperty takes one value for one property: it cannot add other declarations.
      if (typeof value === "string" && value.trim() !== "" && value.length <= 200) style.setProperty(`--ru-${name}`, value.trim());
      else style.removeProperty(`--ru-${name}`);
    }
  });

  let reported = -1;
  const frame = document.querySelector(".frame");
  new ResizeObserver(() => {
    const height = Math.ceil(frame.getBoundingClientRect().height);
    if (height !== reported) {
      reported = height;
      post("height", { height });
    }
  }).observe(frame);

  window.rtFrame = {
    hostOrigin,
    event(name, detail) { post("event", { name, detail }); },
    ready(detail) { post("ready", { detail }); },
    error(detail) { post("error", { detail }); },
  };
  post("hello", {});
})();
