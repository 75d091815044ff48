// <resumable-uploader>: the embeddable uploader, for any page on any origin (served at /embed.js).
//
//   <script src="https://files.example.com/embed.js" defer></script>
//   <resumable-uploader parallel="3" accept="image/*,.pdf" max-size="104857600" multiple lang="zh">
//   </resumable-uploader>
//
// The element holds an <iframe> with our server's /embed document, where the uploader's Python runs on the
// frame's own main thread (a page that is not cross-origin isolated cannot give a worker's synchronous DOM
// access what it needs; see README.md, "Embedding"). This script only builds that iframe and relays:
// - before the iframe, GET <server>/api/embed with the options: the server checks them and refuses an origin
//   that is not on its allow-list; either refusal becomes an "uploader-error" event and a message in place;
// - the iframe's messages (accepted only from that iframe's window, at the server's origin, with this
//   element's id) become DOM events on the element: uploader-ready, uploader-error and upload-* (bubbling,
//   composed, details as documented);
// - the host's --ru-* custom properties go to the iframe (theme); its content height comes back, and the
//   element grows with it unless the host page sets a height.
(() => {
  "use strict";
  if (customElements.get("resumable-uploader")) return; // loaded twice: the first definition stays

  const script = document.currentScript;
  const DEFAULT_SERVER = script && script.src ? new URL(script.src).origin : location.origin;
  const OPTIONS = ["lang", "parallel", "accept", "max-size", "multiple", "label-choose", "label-drop", "token"];
  const THEME = ["accent", "accent-text", "bg", "text", "muted", "line", "ok", "warn", "bad", "radius", "font",
    "font-size"];
  const EVENTS = new Set(["upload-added", "upload-progress", "upload-paused", "upload-resumed", "upload-done",
    "upload-failed", "upload-removed"]);
  // The only words of this script's own (it may have to speak when the server cannot be reached); the
  // uploader's other texts come from the server (frontend/browser/i18n.py).
  const TEXTS = {
    en: { unreachable: "The upload server cannot be reached", starting: "Loading the uploader…", title: "File uploader" },
    zh: { unreachable: "无法连接上传服务器", starting: "正在加载上传组件…", title: "文件上传" },
  };
  const STYLE = `
    :host { display: block; height: var(--ru-content-height, auto); min-height: 3rem; }
    :host([hidden]) { display: none; }
    iframe { display: block; width: 100%; height: 100%; border: 0; background: transparent; color-scheme: normal; }
    .note { box-sizing: border-box; margin: 0; padding: 0.75rem 0.9rem; border-radius: var(--ru-radius, 10px);
      border: 1px solid var(--ru-line, #d9dee7); background: var(--ru-bg, #fff); color: var(--ru-muted, #667085);
      font: var(--ru-font-size, 14px)/1.45 var(--ru-font, system-ui, sans-serif); }
    .note.error { color: var(--ru-bad, #c2362b); border-color: currentColor; }
  `;
  let instances = 0;

  function language(element) {
    const tag = (element.getAttribute("lang") || navigator.language || "en").toLowerCase();
    return tag.startsWith("zh") ? "zh" : "en";
  }

  class ResumableUploader extends HTMLElement {
    static get observedAttributes() { return ["server", ...OPTIONS]; }

    #iframe = null;
    #server = "";
    #generation = 0;

    constructor() {
      super();
      instances += 1;
      this.uploaderId = `ru${instances}-${Math.random().toString(36).slice(2, 10)}`;
      this.attachShadow({ mode: "open" });
      this.onMessage = this.onMessage.bind(this);
    }

    connectedCallback() {
      window.addEventListener("message", this.onMessage);
      this.#build();
    }

    disconnectedCallback() {
      window.removeEventListener("message", this.onMessage);
      this.#generation += 1;
      this.#iframe = null;
      this.shadowRoot.replaceChildren();
    }

    attributeChangedCallback(name, before, after) {
      if (before !== after && this.isConnected && this.#generation > 0) this.#build(); // new options: start over
    }

    /** The host's --ru-* properties, read again and sent to the iframe (call after changing them). */
    refreshTheme() {
      if (this.#iframe === null || this.#iframe.contentWindow === null) return;
      const computed = getComputedStyle(this);
      const vars = {};
      for (const name of THEME) vars[name] = computed.getPropertyValue(`--ru-${name}`).trim();
      this.#iframe.contentWindow.postMessage({ id: this.uploaderId, type: "theme", vars }, this.#server);
    }

    get server() { return this.#server; }

    #query() {
      const query = new URLSearchParams();
      query.set("id", this.uploaderId);
      query.set("lang", language(this));
      for (const name of OPTIONS) {
        if (name === "lang" || !this.hasAttribute(name)) continue;
        query.set(name, name === "multiple" ? "1" : this.getAttribute(name));
      }
      return query.toString();
    }

    #note(text, error) {
      const note = document.createElement("p");
      note.className = error ? "note error" : "note";
      note.setAttribute("role", error ? "alert" : "status");
      note.textContent = text;
      return note;
    }

    #emit(name, detail) {
      this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
    }

    #fail(generation, message, code) {
      if (generation !== this.#generation) return;
      this.#iframe = null;
      this.style.setProperty("--ru-content-height", "auto");
      const style = document.createElement("style");
      style.textContent = STYLE;
      this.shadowRoot.replaceChildren(style, this.#note(message, true));
      this.#emit("uploader-error", { message, code });
    }

    async #build() {
      const generation = ++this.#generation;
      const texts = TEXTS[language(this)];
      let server;
      try {
        server = new URL(this.getAttribute("server") || DEFAULT_SERVER, location.href).origin;
      } catch {
        server = "null";
      }
      this.#server = server;
      this.#iframe = null;
      this.style.removeProperty("--ru-content-height");
      const style = document.createElement("style");
      style.textContent = STYLE;
      this.shadowRoot.replaceChildren(style, this.#note(texts.starting, false));
      const query = this.#query();

      // Ask first: a refused origin or a bad option gets the server's own message, not a blank frame.
      let answer;
      try {
        const response = await fetch(`${server}/api/embed?${query}`, { mode: "cors", credentials: "omit" });
        answer = await response.json();
      } catch {
        this.#fail(generation, `${texts.unreachable} (${server})`, "UNREACHABLE");
        return;
      }
      if (generation !== this.#generation) return;
      if (!answer || answer.code !== 0) {
        this.#fail(generation, String((answer && answer.msg) || texts.unreachable), (answer && answer.error) || "REFUSED");
        return;
      }

      const iframe = document.createElement("iframe");
      iframe.title = texts.title;
      iframe.referrerPolicy = "origin"; // the frame learns the host's origin from it if ancestorOrigins is missing
      iframe.src = `${server}/embed?${query}`;
      this.#iframe = iframe;
      this.shadowRoot.replaceChildren(style, iframe);
    }

    onMessage(event) {
      const iframe = this.#iframe;
      if (iframe === null || event.source !== iframe.contentWindow || event.origin !== this.#server) return;
      const data = event.data;
      if (!data || data.source !== "resumable-uploader" || data.id !== this.uploaderId) return;
      switch (data.type) {
        case "hello":
          this.refreshTheme();
          break;
        case "height":
          if (Number.isFinite(data.height)) this.style.setProperty("--ru-content-height", `${Math.ceil(data.height)}px`);
          break;
        case "ready":
          this.#emit("uploader-ready", data.detail || {});
          break;
        case "error":
          this.#emit("uploader-error", data.detail || {});
          break;
        case "event":
          if (EVENTS.has(data.name)) this.#emit(data.name, data.detail || {});
          break;
        default:
          break;
      }
    }
  }

  customElements.define("resumable-uploader", ResumableUploader);
})();
