// DOM building and formatting. Data only ever reaches the page as text nodes or attribute values.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("a", {href: "/"}, "text", child…): an element; strings become text nodes. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Milliseconds since the epoch, with the sub-millisecond digits of an RFC 3339 time kept. */
export function timeMs(text) {
  if (!text) return NaN;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(text);
  if (!m) return Date.parse(text);
  const whole = Date.parse(m[1] + (m[3] || "Z"));
  return whole + (m[2] ? Number("0." + m[2]) * 1000 : 0);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function fmtTime(text) {
  const ms = timeMs(text);
  if (Number.isNaN(ms)) return text || "";
  const d = new Date(ms);
  const today = new Date();
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  if (d.toDateString() === today.toDateString()) return clock;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)} m ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
}

export function fmtInt(n) {
  return n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
}

export function fmtCost(usd) {
  if (!usd) return "";
  if (usd < 0.0001) return `$${usd.toExponential(1)}`;
  if (usd < 1) return `$${usd.toFixed(usd < 0.01 ? 5 : 4)}`;
  return `$${usd.toFixed(2)}`;
}

export function fmtCompact(n) {
  if (!n) return "0";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return abs < 10 && !Number.isInteger(n) ? n.toFixed(2) : String(Math.round(n));
}

export function statusBadge(status, errors) {
  const failed = status === "ERROR";
  return h("span", { class: ["badge", failed ? "err" : "ok"], title: failed && errors ? `${errors} error span(s)` : null },
    failed ? (errors > 1 ? `error ×${errors}` : "error") : "ok");
}

export function typeBadge(type) {
  return h("span", { class: ["type", `t-${type || "CUSTOM"}`] }, type || "CUSTOM");
}

export function copyButton(text, label = "copy") {
  const button = h("button", { type: "button", class: "copy", title: `Copy ${text}`, "aria-label": `Copy ${text}` }, label);
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "copied";
    } catch {
      button.textContent = "failed";
    }
    setTimeout(() => { button.textContent = label; }, 1200);
  });
  return button;
}

export function idWithCopy(id, href) {
  if (!id) return h("span", { class: "muted" }, "—");
  const text = href ? h("a", { href, "data-nav": true, class: "mono" }, id) : h("span", { class: "mono" }, id);
  return h("span", { class: "id" }, text, copyButton(id));
}

export function errorBox(message) {
  return h("div", { class: "error-box", role: "alert" }, message);
}

export function emptyBox(message) {
  return h("div", { class: "empty" }, message);
}

/** j/k/Enter over the rows of a list: the selected row is marked, scrolled to and opened with `open`. */
export function rowKeys(container, selector, open) {
  const rows = () => Array.from(container.querySelectorAll(selector));
  const select = (delta) => {
    const all = rows();
    if (!all.length) return;
    const at = all.findIndex((row) => row.classList.contains("selected"));
    const next = at < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, at + delta));
    if (at >= 0) all[at].classList.remove("selected");
    all[next].classList.add("selected");
    all[next].scrollIntoView({ block: "nearest" });
  };
  return {
    next: () => select(1),
    previous: () => select(-1),
    open: () => {
      const row = container.querySelector(`${selector}.selected`);
      if (row) open(row);
    },
  };
}
