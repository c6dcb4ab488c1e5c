// `/spans`: LLM calls across traces (any span type on request), sortable.

import { api } from "./api.js";
import { clear, emptyBox, errorBox, fmtCost, fmtDuration, fmtInt, fmtTime, h, rowKeys, statusBadge, timeMs } from "./dom.js";
import { filterBar, timeParams } from "./filters.js";

const PAGE = 100;
const FILTERS = ["range", "span_type", "model", "provider", "service", "status", "q"];
const DEFAULTS = { span_type: "LLM" };
// column: [label, server sort or null, client key, numeric]
const COLUMNS = [
  ["Time", "newest", (s) => timeMs(s.started_at), false],
  ["Span", null, null, false],
  ["Model", null, (s) => s.model || "", false],
  ["Provider", null, (s) => s.provider || "", false],
  ["Service", null, (s) => s.service_name || "", false],
  ["Latency", "duration", (s) => s.duration_ms, true],
  ["In tokens", null, (s) => s.input_tokens || 0, true],
  ["Out tokens", null, (s) => s.output_tokens || 0, true],
  ["Cost", null, (s) => s.cost_usd || 0, true],
  ["Status", null, null, false],
];
const SORT_KEYS = { newest: 0, model: 2, provider: 3, service: 4, duration: 5, input_tokens: 6, output_tokens: 7, cost: 8 };

function spanRow(s) {
  const href = `/traces/${encodeURIComponent(s.trace_id)}?span=${encodeURIComponent(s.span_id)}`;
  return h("tr", { class: ["row", s.status === "ERROR" && "failed"], dataset: { href } },
    h("td", { class: "nowrap small mono", title: s.started_at }, fmtTime(s.started_at)),
    h("td", { class: "name" }, h("a", { href, "data-nav": true }, s.name)),
    h("td", {}, s.model || ""),
    h("td", {}, s.provider || ""),
    h("td", {}, s.service_name || ""),
    h("td", { class: "num" }, fmtDuration(s.duration_ms)),
    h("td", { class: "num" }, s.input_tokens ? fmtInt(s.input_tokens) : ""),
    h("td", { class: "num" }, s.output_tokens ? fmtInt(s.output_tokens) : ""),
    h("td", { class: "num" }, fmtCost(s.cost_usd)),
    h("td", {}, statusBadge(s.status)));
}

export function render(main, ctx) {
  let query = ctx.query;
  let items = [];
  let cursor = null;
  let generation = 0;
  const tbody = h("tbody");
  const message = h("div");
  const note = h("p", { class: "muted small" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
  let bar = filterBar(query, FILTERS, ctx.navigate, { defaults: DEFAULTS });
  const sortName = () => query.get("sort") || "newest";
  const head = h("tr");
  const table = h("table", { class: "list" }, h("thead", {}, head), tbody);
  clear(main, h("div", { class: "page-head" }, h("h1", {}, "LLM calls")), bar.form, message, table, note, more);

  const headers = () => {
    const current = sortName();
    head.replaceChildren(...COLUMNS.map(([label, , key, numeric], i) => {
      const name = Object.keys(SORT_KEYS).find((k) => SORT_KEYS[k] === i);
      if (!key || !name) return h("th", { scope: "col" }, label);
      const next = new URLSearchParams(query);
      next.set("sort", name);
      return h("th", { scope: "col", class: numeric ? "num" : null, "aria-sort": current === name ? "descending" : null },
        h("a", { href: `${location.pathname}?${next}`, "data-nav": true, class: ["sort", current === name && "active"] }, label, current === name ? " ↓" : ""));
    }));
  };
  const paint = () => {
    const name = sortName();
    const column = COLUMNS[SORT_KEYS[name] ?? 0];
    const serverSorted = name === "newest" || name === "duration";
    const rows = serverSorted ? items : [...items].sort((a, b) => {
      const x = column[2](a);
      const y = column[2](b);
      return column[3] ? y - x : String(x).localeCompare(String(y));
    });
    tbody.replaceChildren(...rows.map(spanRow));
    more.hidden = !cursor;
    note.textContent = !serverSorted && cursor ? `Sorted within the ${items.length} calls loaded; load more to widen.` : "";
    message.replaceChildren(items.length ? "" : emptyBox("No span matches these filters."));
  };
  const params = () => {
    const p = { limit: PAGE, ...timeParams(query) };
    for (const name of ["model", "provider", "service", "status", "q"]) if (query.get(name)) p[name] = query.get(name);
    p.span_type = query.has("span_type") ? query.get("span_type") : DEFAULTS.span_type;
    if (sortName() === "duration") p.sort = "duration";
    return p;
  };
  const load = async (append) => {
    const mine = append ? generation : ++generation;
    try {
      const body = await api("spans", append ? { ...params(), cursor } : params());
      if (mine !== generation) return;
      items = append ? items.concat(body.spans) : body.spans;
      cursor = body.next_cursor;
      bar.suggest("model", items.map((s) => s.model));
      bar.suggest("provider", items.map((s) => s.provider));
      bar.suggest("service", items.map((s) => s.service_name));
      paint();
    } catch (err) {
      if (mine !== generation) return;
      items = [];
      tbody.replaceChildren();
      message.replaceChildren(errorBox(err.status === 404 ? "This server has no spans API (/api/v1/spans)." : err.message));
    }
  };
  more.addEventListener("click", () => load(true));
  const open = (row) => ctx.navigate(row.dataset.href);
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr.row");
    if (row && !event.target.closest("a, button")) open(row);
  });
  ctx.setKeys(rowKeys(tbody, "tr.row", open));
  ctx.onUpdate((next) => {
    const before = query;
    query = next;
    headers();
    // Only a client-side sort changed: re-sort the loaded rows instead of asking again.
    const serverSort = (q) => ["newest", "duration"].includes(q.get("sort") || "newest");
    const others = (q) => [...q.entries()].filter(([k]) => k !== "sort").sort().join("&");
    const onlySort = !serverSort(before) && !serverSort(next) && others(before) === others(next);
    if (onlySort) {
      paint();
      return;
    }
    const fresh = filterBar(query, FILTERS, ctx.navigate, { defaults: DEFAULTS });
    bar.form.replaceWith(fresh.form);
    bar = fresh;
    load(false);
  });
  headers();
  load(false);
  return () => { generation += 1; };
}
