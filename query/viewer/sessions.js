// `/sessions`: conversations (traces sharing a session id), most recent first.

import { api } from "./api.js";
import { clear, emptyBox, errorBox, fmtCost, fmtInt, fmtTime, h, rowKeys } from "./dom.js";
import { filterBar, timeParams } from "./filters.js";

const PAGE = 50;

function sessionRow(session) {
  const href = `/sessions/${encodeURIComponent(session.session_id)}`;
  return h("tr", { class: ["row", session.error_count && "failed"], dataset: { href } },
    h("td", { class: "name" }, h("a", { href, "data-nav": true, class: "mono" }, session.session_id)),
    h("td", { class: "nowrap small mono" }, fmtTime(session.last_seen)),
    h("td", { class: "nowrap small mono" }, fmtTime(session.first_seen)),
    h("td", { class: "num" }, fmtInt(session.trace_count)),
    h("td", {}, (session.users || []).join(", ")),
    h("td", { class: "num" }, session.total_tokens ? fmtInt(session.total_tokens) : ""),
    h("td", { class: "num" }, fmtCost(session.cost_usd)),
    h("td", { class: "num" }, session.error_count ? h("span", { class: "badge err" }, fmtInt(session.error_count)) : ""));
}

export function render(main, ctx) {
  let query = ctx.query;
  let cursor = null;
  let generation = 0;
  const tbody = h("tbody");
  const message = h("div");
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
  let bar = filterBar(query, ["range", "user_id"], ctx.navigate);
  const table = h("table", { class: "list" }, h("thead", {}, h("tr", {},
    ["Session", "Last seen", "First seen", "Traces", "Users", "Tokens", "Cost", "Errors"].map((label, i) =>
      h("th", { scope: "col", class: [3, 5, 6, 7].includes(i) ? "num" : null }, label)))), tbody);
  clear(main, h("div", { class: "page-head" }, h("h1", {}, "Sessions")), bar.form, message, table, more);

  const params = () => ({ limit: PAGE, ...timeParams(query), user_id: query.get("user_id") || "" });
  const load = async (append) => {
    const mine = append ? generation : ++generation;
    try {
      const body = await api("sessions", append ? { ...params(), cursor } : params());
      if (mine !== generation) return;
      if (!append) tbody.replaceChildren();
      tbody.append(...body.sessions.map(sessionRow));
      cursor = body.next_cursor;
      more.hidden = !cursor;
      message.replaceChildren(tbody.children.length ? "" : emptyBox("No sessions. Traces join a session when their spans carry a session id (session.id)."));
    } catch (err) {
      if (mine !== generation) return;
      message.replaceChildren(errorBox(err.status === 404 ? "This server has no sessions API (/api/v1/sessions)." : err.message));
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
    query = next;
    const fresh = filterBar(query, ["range", "user_id"], ctx.navigate);
    bar.form.replaceWith(fresh.form);
    bar = fresh;
    load(false);
  });
  load(false);
  return () => { generation += 1; };
}
