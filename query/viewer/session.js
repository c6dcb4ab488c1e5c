// `/sessions/{session_id}`: the session as one chat transcript; each turn links to its trace.

import { api } from "./api.js";
import { parseJson, renderContent, renderMessage, toMessages } from "./content.js";
import { clear, errorBox, fmtCost, fmtDuration, fmtInt, fmtTime, h, idWithCopy, rowKeys, statusBadge } from "./dom.js";

/** The messages of an LLM call's input that are new in this turn: after the last assistant message. */
function newInput(input, shownSystem) {
  const parsed = parseJson(input);
  const messages = parsed === undefined ? null : toMessages(parsed);
  if (!messages) return { nodes: input ? [renderContent(input)] : [], system: shownSystem };
  let start = messages.length;
  while (start > 0 && messages[start - 1].role !== "assistant") start -= 1;
  const fresh = messages.slice(start).filter((m) => m.role !== "system" || !shownSystem);
  const system = shownSystem || messages.some((m) => m.role === "system");
  if (!shownSystem) for (const m of messages.slice(0, start)) if (m.role === "system") fresh.unshift(m);
  return { nodes: fresh.map(renderMessage), system };
}

export function render(main, ctx) {
  const sessionId = ctx.param;
  let disposed = false;
  clear(main, h("p", { class: "muted" }, "Loading session…"));
  api(`sessions/${encodeURIComponent(sessionId)}`).then((session) => {
    if (disposed) return;
    let system = false;
    const traces = session.traces || [];
    const tokens = traces.reduce((sum, t) => sum + (t.total_tokens || 0), 0);
    const cost = traces.reduce((sum, t) => sum + (t.cost_usd || 0), 0);
    const turns = traces.map((trace, index) => {
      const href = `/traces/${encodeURIComponent(trace.trace_id)}`;
      const body = [];
      for (const span of trace.llm_spans || []) {
        const input = newInput(span.input, system);
        system = input.system;
        body.push(...input.nodes);
        const output = renderContent(span.output);
        if (output) body.push(output);
      }
      return h("article", { class: ["turn", trace.status === "ERROR" && "failed"], dataset: { href } },
        h("header", { class: "turn-head" },
          h("a", { href, "data-nav": true }, `Turn ${index + 1}: ${trace.root_span_name || trace.trace_id}`),
          h("span", { class: "muted small" }, ` ${fmtTime(trace.started_at)} · ${fmtDuration(trace.duration_ms)}`,
            trace.total_tokens ? ` · ${fmtInt(trace.total_tokens)} tokens` : "", trace.cost_usd ? ` · ${fmtCost(trace.cost_usd)}` : ""),
          " ", statusBadge(trace.status, trace.error_count)),
        body.length ? body : h("p", { class: "muted small" }, "No LLM call in this trace."));
    });
    const transcript = h("div", { class: "transcript" }, turns);
    clear(main,
      h("div", { class: "crumbs" }, h("a", { href: "/sessions", "data-nav": true }, "Sessions"), " / ", idWithCopy(session.session_id)),
      h("h1", {}, "Session"),
      h("p", { class: "muted" }, `${traces.length} turn${traces.length === 1 ? "" : "s"}`,
        tokens ? ` · ${fmtInt(tokens)} tokens` : "", cost ? ` · ${fmtCost(cost)}` : ""),
      transcript);
    ctx.setKeys(rowKeys(transcript, "article.turn", (turn) => ctx.navigate(turn.dataset.href)));
  }).catch((err) => {
    if (disposed) return;
    clear(main, h("div", { class: "crumbs" }, h("a", { href: "/sessions", "data-nav": true }, "Sessions")),
      errorBox(err.status === 404 ? `Session ${sessionId} not found.` : err.message));
  });
  return () => { disposed = true; };
}
