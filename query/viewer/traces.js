// `/`: traces, newest first, paged by the API's cursor, with the first page polled for new ones.

import { api } from "./api.js";
import { clear, emptyBox, errorBox, fmtCost, fmtDuration, fmtInt, fmtTime, h, rowKeys, statusBadge, timeMs, typeBadge } from "./dom.js";
import { filterBar, timeParams } from "./filters.js";

const PAGE = 50;
const POLL_MS = 5000;
const FILTERS = ["range", "service", "model", "span_type", "status", "q", "sort"];
const SORTS = { label: "Sort", options: [["", "Newest"], ["duration", "Slowest"], ["cost", "Costliest"], ["tokens", "Most tokens"]] };
const FORWARDED = ["service", "model", "span_type", "status", "q", "provider", "session_id", "user_id", "environment", "sort"];

function apiParams(query) {
  const params = { limit: PAGE, ...timeParams(query) };
  for (const name of FORWARDED) if (query.get(name)) params[name] = query.get(name);
  return params;
}

const signature = (t) => `${t.span_count}|${t.status}|${t.duration_ms}|${t.total_tokens}|${t.cost_usd}`;

function traceRow(trace) {
  const href = `/traces/${encodeURIComponent(trace.trace_id)}`;
  return h("tr", { class: ["row", trace.status === "ERROR" && "failed"], dataset: { id: trace.trace_id, href } },
    h("td", { class: "nowrap mono small", title: trace.started_at }, fmtTime(trace.started_at)),
    h("td", { class: "name" },
      h("a", { href, "data-nav": true }, trace.root_span_name || "(no root span)"),
      h("div", { class: "tags" }, (trace.span_types || []).map(typeBadge),
        (trace.models || []).map((m) => h("span", { class: "tag" }, m)))),
    h("td", {}, trace.service_name),
    h("td", { class: "num" }, fmtDuration(trace.duration_ms)),
    h("td", { class: "num" }, fmtInt(trace.span_count)),
    h("td", { class: "num", title: `in ${fmtInt(trace.input_tokens)} · out ${fmtInt(trace.output_tokens)}` }, trace.total_tokens ? fmtInt(trace.total_tokens) : ""),
    h("td", { class: "num" }, fmtCost(trace.cost_usd)),
    h("td", {}, statusBadge(trace.status, trace.error_count)));
}

export function render(main, ctx) {
  let query = ctx.query;
  let items = [];
  let rows = new Map(); // trace_id → [signature, tr]
  let cursor = null;
  let loading = false;
  let generation = 0;
  const tbody = h("tbody");
  const status = h("div", { class: "status-line", "aria-live": "polite" });
  const message = h("div");
  const more = h("button", { type: "button", class: "more", hidden: true, onclick: () => loadMore() }, "Load more");
  const sentinel = h("div", { class: "sentinel" });
  let bar = filterBar(query, FILTERS, ctx.navigate, { extra: { sort: SORTS } });
  const table = h("table", { class: "list traces" },
    h("thead", {}, h("tr", {},
      ["Time", "Trace", "Service", "Duration", "Spans", "Tokens", "Cost", "Status"].map((label, i) =>
        h("th", { class: i >= 3 && i <= 6 ? "num" : null, scope: "col" }, label)))),
    tbody);
  clear(main, h("div", { class: "page-head" }, h("h1", {}, "Traces"), status), bar.form, message, table, more, sentinel);

  const paint = (markFresh = false) => {
    const ordered = items.map((trace) => {
      const sig = signature(trace);
      const known = rows.get(trace.trace_id);
      if (known && known[0] === sig) return known[1];
      const tr = traceRow(trace);
      if (known) tr.classList.toggle("selected", known[1].classList.contains("selected"));
      else if (markFresh) tr.classList.add("fresh");
      rows.set(trace.trace_id, [sig, tr]);
      return tr;
    });
    tbody.replaceChildren(...ordered);
    more.hidden = !cursor;
    if (!items.length) message.replaceChildren(emptyBox(query.toString()
      ? "No trace matches these filters."
      : "No traces yet. Send OTLP to this server (OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:4318) and they appear here."));
    else if (message.querySelector(".empty")) message.replaceChildren();
    status.textContent = `${items.length}${cursor ? "+" : ""} trace${items.length === 1 ? "" : "s"}`;
  };

  const newest = () => !query.get("sort") || query.get("sort") === "newest";
  const merge = (fresh) => {
    if (!newest()) { // the server's order (slowest, costliest…): pages follow each other
      const known = new Set(items.map((t) => t.trace_id));
      items = items.concat(fresh.filter((t) => !known.has(t.trace_id)));
      return;
    }
    const byId = new Map(items.map((t) => [t.trace_id, t]));
    for (const trace of fresh) byId.set(trace.trace_id, trace);
    items = Array.from(byId.values()).sort((a, b) =>
      timeMs(b.started_at) - timeMs(a.started_at) || (a.trace_id < b.trace_id ? 1 : -1));
  };

  const load = async () => {
    const mine = ++generation;
    loading = true;
    message.replaceChildren();
    try {
      const body = await api("traces", apiParams(query));
      if (mine !== generation) return;
      items = body.traces;
      rows = new Map();
      cursor = body.next_cursor;
      bar.suggest("service", items.flatMap((t) => t.services || [t.service_name]));
      bar.suggest("model", items.flatMap((t) => t.models || []));
      paint();
    } catch (err) {
      if (mine !== generation) return;
      items = [];
      tbody.replaceChildren();
      status.textContent = "";
      message.replaceChildren(errorBox(err.message));
    } finally {
      if (mine === generation) loading = false;
    }
  };

  const loadMore = async () => {
    if (loading || !cursor) return;
    loading = true;
    const mine = generation;
    try {
      const body = await api("traces", { ...apiParams(query), cursor });
      if (mine !== generation) return;
      merge(body.traces);
      cursor = body.next_cursor;
      paint();
    } catch (err) {
      if (mine === generation) message.replaceChildren(errorBox(err.message));
    } finally {
      if (mine === generation) loading = false;
    }
  };

  const poll = async () => {
    if (loading || !newest() || document.visibilityState !== "visible" || message.querySelector(".error-box")) return;
    const mine = generation;
    try {
      const body = await api("traces", apiParams(query));
      if (mine !== generation || loading) return;
      merge(body.traces);
      if (!cursor && body.next_cursor) cursor = body.next_cursor;
      paint(true);
    } catch {
      // a failed poll is retried at the next tick; the list stays as it is
    }
  };

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: "400px" });
  observer.observe(sentinel);
  const timer = setInterval(poll, POLL_MS);

  const open = (row) => ctx.navigate(row.dataset.href);
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr.row");
    if (row && !event.target.closest("a, button") && !window.getSelection().toString()) open(row);
  });
  ctx.setKeys(rowKeys(tbody, "tr.row", open));
  ctx.onUpdate((next) => {
    query = next;
    const fresh = filterBar(query, FILTERS, ctx.navigate, { extra: { sort: SORTS } });
    bar.form.replaceWith(fresh.form);
    bar = fresh;
    load();
  });
  load();
  return () => {
    clearInterval(timer);
    observer.disconnect();
    generation += 1;
  };
}
