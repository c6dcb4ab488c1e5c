// `/traces/{trace_id}`: the waterfall (a virtualised span tree on one time axis) and span details.

import { api } from "./api.js";
import { renderContent } from "./content.js";
import {
  clear, emptyBox, errorBox, fmtCost, fmtDuration, fmtInt, fmtTime, h, idWithCopy, statusBadge, timeMs, typeBadge,
} from "./dom.js";

const ROW = 26; // px, fixed: the list renders only the rows on screen
const OVERSCAN = 12;

/** The span tree: nodes in depth-first order, children by start time; orphans and cycles become roots. */
export function buildTree(spans) {
  const nodes = spans.map((span) => ({
    span, children: [], parent: null, depth: 0, descendants: 0,
    start: timeMs(span.started_at), end: timeMs(span.ended_at),
  }));
  const byId = new Map();
  for (const node of nodes) if (!byId.has(node.span.span_id)) byId.set(node.span.span_id, node);
  for (const node of nodes) {
    const parent = node.span.parent_span_id ? byId.get(node.span.parent_span_id) : undefined;
    if (parent && parent !== node) {
      parent.children.push(node);
      node.parent = parent;
    }
  }
  const order = [];
  const seen = new Set();
  const walk = (root) => {
    const stack = [[root, 0]];
    while (stack.length) {
      const [node, depth] = stack.pop();
      if (seen.has(node)) continue;
      seen.add(node);
      node.depth = depth;
      order.push(node);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push([node.children[i], depth + 1]);
    }
  };
  for (const node of nodes) if (!node.parent) walk(node);
  for (const node of nodes) {
    if (!seen.has(node)) { // in a parent cycle: break it here
      if (node.parent) node.parent.children = node.parent.children.filter((c) => c !== node);
      node.parent = null;
      walk(node);
    }
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    node.descendants = node.children.reduce((sum, c) => sum + 1 + c.descendants, 0);
  }
  return order;
}

function kvTable(entries, emptyText) {
  if (!entries.length) return h("p", { class: "muted small" }, emptyText);
  return h("table", { class: "kv" }, h("tbody", {}, entries.map(([key, value]) =>
    h("tr", { dataset: { key: String(key).toLowerCase(), value: valueText(value).toLowerCase() } },
      h("th", { scope: "row", class: "mono" }, key), h("td", {}, valueCell(value))))));
}

function valueText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function valueCell(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return text.includes("\n") || text.length > 120 ? h("pre", { class: "code" }, text) : h("span", { class: "mono" }, text);
}

function section(title, ...body) {
  return h("section", { class: "detail-section" }, h("h3", {}, title), body);
}

function fact(label, value) {
  return value === "" || value === null || value === undefined ? null : [h("dt", {}, label), h("dd", {}, value)];
}

function spanDetails(node, trace, traceStart, onClose) {
  const s = node.span;
  const offset = node.start - traceStart;
  const llm = s.model || s.provider || s.input_tokens || s.output_tokens || s.cost_usd;
  const attributes = Object.entries(s.attributes || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const attrTable = kvTable(attributes, "No attributes.");
  const attrSearch = h("input", { type: "search", class: "attr-search", placeholder: "Filter attributes", "aria-label": "Filter attributes" });
  attrSearch.addEventListener("input", () => {
    const needle = attrSearch.value.trim().toLowerCase();
    for (const row of attrTable.querySelectorAll("tr")) {
      row.hidden = Boolean(needle) && !row.dataset.key.includes(needle) && !row.dataset.value.includes(needle);
    }
  });
  const tokens = [
    ["input", s.input_tokens], ["output", s.output_tokens], ["total", s.total_tokens],
    ["cache read", s.cache_read_tokens], ["cache write", s.cache_write_tokens], ["reasoning", s.reasoning_tokens],
  ].filter(([, v]) => v);
  const input = renderContent(s.input);
  const output = renderContent(s.output);
  const scope = s.scope || {};
  return h("aside", { class: "details", "aria-label": "Span details" },
    h("div", { class: "details-head" },
      h("div", {}, typeBadge(s.span_type), " ", statusBadge(s.status)),
      h("h2", {}, s.name),
      h("button", { type: "button", class: "close", title: "Close (Esc)", "aria-label": "Close details", onclick: onClose }, "×")),
    h("dl", { class: "facts" },
      fact("Span id", idWithCopy(s.span_id)),
      fact("Parent", s.parent_span_id ? idWithCopy(s.parent_span_id) : "none (root)"),
      fact("Trace id", idWithCopy(trace.trace_id)),
      fact("Service", s.service_name),
      fact("Kind", s.kind),
      fact("Start", `${fmtTime(s.started_at)}  (+${fmtDuration(offset)})`),
      fact("Duration", fmtDuration(s.duration_ms)),
      fact("Status", s.status),
      fact("Status message", s.status_message ? h("span", { class: "status-message" }, s.status_message) : ""),
      fact("Session", s.session_id ? idWithCopy(s.session_id, `/sessions/${encodeURIComponent(s.session_id)}`) : ""),
      fact("User", s.user_id),
      fact("Environment", s.environment)),
    llm ? section("Model",
      h("dl", { class: "facts" },
        fact("Model", s.model),
        fact("Requested", s.request_model && s.request_model !== s.model ? s.request_model : ""),
        fact("Provider", s.provider),
        fact("Cost", s.cost_usd ? fmtCost(s.cost_usd) : "")),
      tokens.length ? h("table", { class: "tokens" },
        h("thead", {}, h("tr", {}, tokens.map(([k]) => h("th", { class: "num" }, k)))),
        h("tbody", {}, h("tr", {}, tokens.map(([, v]) => h("td", { class: "num" }, fmtInt(v)))))) : null) : null,
    input ? section(s.span_type === "LLM" ? "Prompt" : "Input", input) : null,
    output ? section(s.span_type === "LLM" ? "Completion" : "Output", output) : null,
    section(`Attributes (${attributes.length})`, attributes.length > 6 ? attrSearch : null, attrTable),
    section(`Events (${(s.events || []).length})`, (s.events || []).length
      ? h("ol", { class: "events" }, s.events.map((e) => h("li", {},
        h("div", {}, h("strong", {}, e.name), h("span", { class: "muted small" }, `  +${fmtDuration(timeMs(e.timestamp) - node.start)}`)),
        Object.keys(e.attributes || {}).length ? kvTable(Object.entries(e.attributes), "") : null)))
      : h("p", { class: "muted small" }, "No events.")),
    (s.links || []).length ? section(`Links (${s.links.length})`, h("ul", { class: "links" }, s.links.map((link) => h("li", {},
      idWithCopy(link.trace_id, `/traces/${encodeURIComponent(link.trace_id)}?span=${encodeURIComponent(link.span_id)}`),
      " span ", h("span", { class: "mono" }, link.span_id),
      Object.keys(link.attributes || {}).length ? kvTable(Object.entries(link.attributes), "") : null)))) : null,
    section("Resource", kvTable(Object.entries(s.resource_attributes || {}), "No resource attributes.")),
    scope.name ? section("Instrumentation scope", h("p", { class: "mono small" }, scope.name, scope.version ? ` ${scope.version}` : "")) : null,
    s.trace_state ? section("Trace state", h("p", { class: "mono small" }, s.trace_state)) : null);
}

function ticks(total) {
  return [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "tick", "data-f": f }, fmtDuration(total * f)));
}

export function render(main, ctx) {
  const traceId = ctx.param;
  let query = ctx.query;
  let disposed = false;
  clear(main, h("p", { class: "muted" }, "Loading trace…"));

  const show = (trace) => {
    const nodes = buildTree(trace.spans);
    const byId = new Map(nodes.map((n) => [n.span.span_id, n]));
    const t0 = Math.min(...nodes.map((n) => n.start).filter(Number.isFinite), timeMs(trace.started_at));
    const t1 = Math.max(...nodes.map((n) => n.end).filter(Number.isFinite), timeMs(trace.completed_at));
    const total = Math.max(t1 - t0, 0.001);
    const collapsed = new Set();
    let keep = null; // when filtering: the matching spans and their ancestors
    let visible = [];
    let selected = null;
    let detailsOpen = false;

    const scroller = h("div", { class: "wf-scroll", tabindex: "0", role: "tree", "aria-label": "Spans" });
    const spacer = h("div", { class: "wf-spacer" });
    const layer = h("div", { class: "wf-rows" });
    scroller.append(spacer, layer);
    const detailsPane = h("div", { class: "details-pane" });
    const layout = h("div", { class: "trace-layout" },
      h("div", { class: "waterfall" },
        h("div", { class: "wf-axis" }, h("div", { class: "wf-axis-name" }, `${nodes.length.toLocaleString("en-US")} spans`),
          h("div", { class: "wf-axis-time" }, ticks(total))),
        scroller),
      detailsPane);
    const find = h("input", { type: "search", placeholder: "Find spans (name, type, model)", "aria-label": "Find spans" });
    const found = h("span", { class: "muted small" });
    const toolbar = h("div", { class: "toolbar" }, find, found,
      h("button", { type: "button", onclick: () => { for (const n of nodes) if (n.children.length && n.depth > 0) collapsed.add(n); refresh(); } }, "Collapse all"),
      h("button", { type: "button", onclick: () => { collapsed.clear(); refresh(); } }, "Expand all"),
      h("span", { class: "legend" }, [...new Set(nodes.map((n) => n.span.span_type))].map(typeBadge)));

    const header = h("div", { class: "trace-head" },
      h("div", { class: "crumbs" }, h("a", { href: "/", "data-nav": true }, "Traces"), " / ", idWithCopy(trace.trace_id)),
      h("h1", {}, trace.root_span_name || "(no root span)", " ", statusBadge(trace.status, trace.error_count)),
      h("dl", { class: "summary" },
        fact("Started", fmtTime(trace.started_at)),
        fact("Duration", fmtDuration(trace.duration_ms)),
        fact("Service", trace.service_name),
        fact("Spans", fmtInt(trace.span_count ?? nodes.length)),
        fact("Errors", trace.error_count ? fmtInt(trace.error_count) : ""),
        fact("Tokens", trace.total_tokens ? `${fmtInt(trace.total_tokens)} (in ${fmtInt(trace.input_tokens)}, out ${fmtInt(trace.output_tokens)})` : ""),
        fact("Cost", trace.cost_usd ? fmtCost(trace.cost_usd) : "")));
    clear(main, header, toolbar, layout);

    const flatten = () => {
      const out = [];
      const stack = nodes.filter((n) => !n.parent).reverse();
      while (stack.length) {
        const node = stack.pop();
        if (keep && !keep.has(node)) continue;
        out.push(node);
        if (!collapsed.has(node) || keep) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
      }
      return out;
    };

    const rowFor = (node, index) => {
      const s = node.span;
      const failed = s.status === "ERROR";
      const row = h("div", {
        class: ["wf-row", node === selected && "selected", failed && "failed"],
        role: "treeitem", "aria-level": node.depth + 1, "aria-selected": node === selected ? "true" : "false",
        "aria-expanded": node.children.length ? String(!collapsed.has(node)) : null,
        dataset: { spanId: s.span_id, depth: node.depth },
      });
      row.style.transform = `translateY(${index * ROW}px)`;
      const name = h("div", { class: "wf-name" });
      name.style.paddingLeft = `${node.depth * 14 + 4}px`;
      if (node.children.length) {
        const open = !collapsed.has(node);
        name.append(h("button", { type: "button", class: "caret", "aria-label": open ? "Collapse" : "Expand", dataset: { toggle: "1" } }, open ? "▾" : "▸"));
      } else {
        name.append(h("span", { class: "caret-space" }));
      }
      name.append(h("span", { class: ["dot", `t-${s.span_type}`], title: s.span_type }),
        h("span", { class: "label" }, s.name));
      if (failed) name.append(h("span", { class: "err-mark", title: s.status_message || "error" }, "!"));
      if (collapsed.has(node) && node.descendants) name.append(h("span", { class: "hidden-count" }, `+${node.descendants}`));
      if (s.model) name.append(h("span", { class: "model" }, s.model));
      const bar = h("div", { class: ["bar", `t-${s.span_type}`, failed && "failed"] });
      const left = ((node.start - t0) / total) * 100;
      const width = Math.max(((node.end - node.start) / total) * 100, 0.15);
      bar.style.left = `${Math.min(left, 99.8)}%`;
      bar.style.width = `${Math.min(width, 100 - Math.min(left, 99.8))}%`;
      const label = h("span", { class: "bar-label" }, fmtDuration(s.duration_ms));
      if (left > 60) {
        label.classList.add("before");
        label.style.right = `${100 - left}%`;
      } else {
        label.style.left = `${Math.min(left + width, 100)}%`;
      }
      const time = h("div", { class: "wf-time" }, bar, label);
      for (const event of (s.events || []).slice(0, 50)) {
        const at = ((timeMs(event.timestamp) - t0) / total) * 100;
        if (!Number.isFinite(at)) continue;
        const mark = h("span", { class: "evt", title: `${event.name} (+${fmtDuration(timeMs(event.timestamp) - node.start)})` });
        mark.style.left = `${Math.max(0, Math.min(at, 100))}%`;
        time.append(mark);
      }
      row.append(name, time);
      return row;
    };

    let frame = 0;
    const paint = () => {
      frame = 0;
      const height = scroller.clientHeight || 600;
      const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
      const last = Math.min(visible.length, Math.ceil((scroller.scrollTop + height) / ROW) + OVERSCAN);
      const rows = [];
      for (let i = first; i < last; i++) rows.push(rowFor(visible[i], i));
      layer.replaceChildren(...rows);
    };
    const schedule = () => { if (!frame) frame = requestAnimationFrame(paint); };
    const refresh = () => {
      visible = flatten();
      spacer.style.height = `${visible.length * ROW}px`;
      scroller.style.height = `${Math.max(visible.length, 3) * ROW + 2}px`; // capped by max-height in CSS
      paint();
    };
    scroller.addEventListener("scroll", schedule, { passive: true });
    const resize = new ResizeObserver(schedule);
    resize.observe(scroller);

    const scrollTo = (node) => {
      const index = visible.indexOf(node);
      if (index < 0) return;
      const top = index * ROW;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (top + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW - scroller.clientHeight;
    };
    const closeDetails = () => {
      detailsOpen = false;
      layout.classList.remove("with-details");
      detailsPane.replaceChildren();
      syncAddress();
      paint();
    };
    const syncAddress = () => {
      const next = new URLSearchParams(location.search);
      if (selected && detailsOpen) next.set("span", selected.span.span_id);
      else next.delete("span");
      const search = next.toString();
      history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
      query = next;
    };
    const openDetails = () => {
      if (!selected) return;
      detailsOpen = true;
      layout.classList.add("with-details");
      detailsPane.replaceChildren(spanDetails(selected, trace, t0, closeDetails));
      detailsPane.scrollTop = 0;
      syncAddress();
    };
    const select = (node, open = detailsOpen) => {
      selected = node;
      for (let a = node.parent; a; a = a.parent) collapsed.delete(a);
      refresh();
      scrollTo(node);
      paint();
      if (open) openDetails();
    };

    layer.addEventListener("click", (event) => {
      const row = event.target.closest(".wf-row");
      if (!row) return;
      const node = byId.get(row.dataset.spanId);
      if (event.target.closest("[data-toggle]")) {
        if (collapsed.has(node)) collapsed.delete(node);
        else collapsed.add(node);
        refresh();
        return;
      }
      select(node, true);
    });

    find.addEventListener("input", () => {
      const needle = find.value.trim().toLowerCase();
      if (!needle) {
        keep = null;
        found.textContent = "";
      } else {
        keep = new Set();
        let hits = 0;
        for (const node of nodes) {
          const s = node.span;
          if (`${s.name}\n${s.span_type}\n${s.model || ""}\n${s.service_name || ""}`.toLowerCase().includes(needle)) {
            hits += 1;
            for (let a = node; a && !keep.has(a); a = a.parent) keep.add(a);
          }
        }
        found.textContent = `${hits} match${hits === 1 ? "" : "es"}`;
      }
      scroller.scrollTop = 0;
      refresh();
    });

    const move = (delta) => {
      if (!visible.length) return;
      const at = selected ? visible.indexOf(selected) : -1;
      const next = at < 0 ? (delta > 0 ? 0 : visible.length - 1) : Math.max(0, Math.min(visible.length - 1, at + delta));
      select(visible[next]);
    };
    ctx.setKeys({
      next: () => move(1),
      previous: () => move(-1),
      open: openDetails,
      close: () => { if (detailsOpen) closeDetails(); },
      collapse: () => {
        if (!selected) return;
        if (selected.children.length && !collapsed.has(selected)) {
          collapsed.add(selected);
          refresh();
        } else if (selected.parent) {
          select(selected.parent);
        }
      },
      expand: () => {
        if (selected && collapsed.has(selected)) {
          collapsed.delete(selected);
          refresh();
        }
      },
    });
    ctx.onUpdate((next) => {
      const wanted = next.get("span");
      if (wanted && byId.has(wanted)) select(byId.get(wanted), true);
      else if (!wanted && detailsOpen) closeDetails();
      return true;
    });

    // Large traces start with deep subtrees folded so the first screen is the outline.
    if (nodes.length > 2000) for (const n of nodes) if (n.depth >= 2 && n.children.length) collapsed.add(n);
    refresh();
    const wanted = query.get("span");
    if (wanted && byId.has(wanted)) select(byId.get(wanted), true);
    return () => resize.disconnect();
  };

  let cleanup = null;
  api(`traces/${encodeURIComponent(traceId)}`)
    .then((trace) => {
      if (disposed) return;
      if (!trace.spans || !trace.spans.length) {
        clear(main, emptyBox("This trace has no spans."));
        return;
      }
      cleanup = show(trace);
    })
    .catch((err) => {
      if (disposed) return;
      clear(main, h("div", { class: "crumbs" }, h("a", { href: "/", "data-nav": true }, "Traces")),
        errorBox(err.status === 404 ? `Trace ${traceId} not found (spans become queryable about a second after they arrive).` : err.message),
        h("button", { type: "button", onclick: () => ctx.navigate(location.href, { replace: true }) }, "Retry"));
    });
  return () => {
    disposed = true;
    if (cleanup) cleanup();
  };
}

