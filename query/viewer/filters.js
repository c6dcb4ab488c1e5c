// The filter bar shared by the list pages: its state lives in the page address (shareable).

import { h } from "./dom.js";

export const SPAN_TYPES = ["LLM", "EMBEDDING", "TOOL", "AGENT", "CHAIN", "RETRIEVAL", "RERANKER", "GUARDRAIL", "EVALUATOR", "CUSTOM"];

const RANGES = [
  ["", "All time"], ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["custom", "Custom range…"],
];
const UNIT_MS = { m: 60e3, h: 3600e3, d: 86400e3 };

/** since/until for the API from the page's `range` (or custom `since`/`until`). */
export function timeParams(query, fallback = "") {
  const range = query.has("range") ? query.get("range") : fallback;
  if (range === "custom") {
    const iso = (v) => (v ? new Date(v).toISOString() : "");
    return { since: iso(query.get("since")), until: iso(query.get("until")) };
  }
  const m = /^(\d+)([mhd])$/.exec(range || "");
  return m ? { since: new Date(Date.now() - Number(m[1]) * UNIT_MS[m[2]]).toISOString() } : {};
}

export function rangeMs(query, fallback) {
  const { since, until } = timeParams(query, fallback);
  const end = until ? Date.parse(until) : Date.now();
  return [since ? Date.parse(since) : end - 86400e3, end];
}

function select(name, label, options, value) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("select", { name },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

function text(name, label, value, placeholder, type = "text") {
  return h("label", { class: ["field", type === "search" && "grow"] }, h("span", {}, label),
    h("input", { name, type, value, placeholder, list: type === "text" ? `dl-${name}` : null, spellcheck: "false", autocomplete: "off" }),
    type === "text" ? h("datalist", { id: `dl-${name}` }) : null);
}

/**
 * A form over `fields` (names of query parameters) reflecting `query`; a change navigates to the
 * page address with the new parameters. `suggest(name, values)` fills a text field's datalist.
 */
export function filterBar(query, fields, navigate, { defaults = {}, extra = {} } = {}) {
  const get = (name) => (query.has(name) ? query.get(name) : defaults[name] || "");
  const parts = [];
  for (const name of fields) {
    if (name === "range") {
      parts.push(select("range", "Time", RANGES, get("range")));
      const custom = get("range") === "custom";
      parts.push(h("label", { class: "field", hidden: !custom }, h("span", {}, "From"),
        h("input", { name: "since", type: "datetime-local", value: get("since"), step: "1" })));
      parts.push(h("label", { class: "field", hidden: !custom }, h("span", {}, "To"),
        h("input", { name: "until", type: "datetime-local", value: get("until"), step: "1" })));
    } else if (name === "span_type") {
      parts.push(select("span_type", "Span type", [["", "Any"], ...SPAN_TYPES.map((t) => [t, t])], get(name)));
    } else if (name === "status") {
      parts.push(select("status", "Status", [["", "Any"], ["SUCCESS", "OK"], ["ERROR", "Error"]], get(name)));
    } else if (name === "q") {
      parts.push(text("q", "Search", get(name), "words or \"a phrase\"", "search"));
    } else if (extra[name]) {
      parts.push(select(name, extra[name].label, extra[name].options, get(name)));
    } else {
      parts.push(text(name, name.replace("_", " ").replace(/^./, (c) => c.toUpperCase()), get(name), "any"));
    }
  }
  const form = h("form", { class: "filters", role: "search" }, parts,
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("a", { href: location.pathname, class: "button", "data-nav": true }, "Reset"));
  const apply = () => {
    const next = new URLSearchParams();
    for (const element of form.elements) {
      if (!element.name || element.closest("[hidden]")) continue;
      const value = element.value.trim();
      if (value !== "" && value !== (defaults[element.name] || "")) next.set(element.name, value);
      else if (value === "" && defaults[element.name]) next.set(element.name, "");
    }
    const search = next.toString();
    navigate(location.pathname + (search ? `?${search}` : ""));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  form.addEventListener("change", (event) => {
    if (event.target.name === "range") {
      const custom = event.target.value === "custom";
      for (const input of form.querySelectorAll("input[type=datetime-local]")) input.closest("label").hidden = !custom;
      if (custom) return;
    }
    if (event.target.tagName === "SELECT") apply();
  });
  const suggest = (name, values) => {
    const list = form.querySelector(`#dl-${name}`);
    if (!list) return;
    const known = new Set(Array.from(list.options, (o) => o.value));
    for (const value of values) {
      if (value && !known.has(value)) {
        known.add(value);
        list.append(h("option", { value }));
      }
    }
  };
  return { form, suggest };
}
