// The viewer's shell: client-side routing (history.pushState), keyboard, sign-in state.

import { credential, forgetCredential } from "./api.js";
import { clear, errorBox } from "./dom.js";

const ROUTES = [
  [/^\/(?:traces\/?)?$/, "traces", () => import("./traces.js")],
  [/^\/traces\/(.+)$/, "traces", () => import("./trace.js")],
  [/^\/sessions\/?$/, "sessions", () => import("./sessions.js")],
  [/^\/sessions\/(.+)$/, "sessions", () => import("./session.js")],
  [/^\/spans\/?$/, "spans", () => import("./spans.js")],
  [/^\/stats\/?$/, "stats", () => import("./stats.js")],
];

const main = document.getElementById("main");
let current = { cleanup: null, keys: {}, path: null };
let renderSeq = 0;

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.href);
  if (target.href === location.href && !replace) return;
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  route();
}

async function route() {
  const seq = ++renderSeq;
  const path = location.pathname;
  const found = ROUTES.map(([re, page, load]) => [re.exec(path), page, load]).find(([m]) => m);
  for (const link of document.querySelectorAll(".nav a")) {
    link.classList.toggle("active", Boolean(found) && link.dataset.page === found[1]);
    if (found && link.dataset.page === found[1]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const query = new URLSearchParams(location.search);
  // Same page, new query (a filter changed): let the page update itself instead of rebuilding.
  if (current.path === path && current.update && current.update(query) !== false) return;
  if (current.cleanup) current.cleanup();
  current = { cleanup: null, keys: {}, path, update: null };
  if (!found) {
    clear(main, errorBox(`No page at ${path}.`));
    return;
  }
  const [match, , load] = found;
  let module;
  try {
    module = await load();
  } catch (err) {
    clear(main, errorBox(`Could not load the page: ${err.message}`));
    return;
  }
  if (seq !== renderSeq) return;
  const ctx = {
    param: match[1] === undefined ? undefined : decodeURIComponent(match[1]),
    query,
    navigate,
    setKeys: (keys) => { current.keys = keys; },
    onUpdate: (fn) => { current.update = fn; },
  };
  clear(main);
  current.cleanup = module.render(main, ctx) || null;
}

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  navigate(url);
});

window.addEventListener("popstate", route);

// Keyboard: j/k/Enter/Esc/h/l go to the page; "/" focuses its search box; g+letter switches page.
let pendingG = false;
document.addEventListener("keydown", (event) => {
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  if (document.querySelector("dialog[open]")) return;
  if (typing) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (pendingG) {
    pendingG = false;
    const to = { t: "/", s: "/sessions", l: "/spans", c: "/stats" }[event.key];
    if (to) {
      event.preventDefault();
      navigate(to);
      return;
    }
  }
  const keys = current.keys || {};
  const action = {
    j: keys.next, ArrowDown: keys.next, k: keys.previous, ArrowUp: keys.previous,
    Enter: keys.open, Escape: keys.close, h: keys.collapse, ArrowLeft: keys.collapse,
    l: keys.expand, ArrowRight: keys.expand,
  }[event.key];
  if (action) {
    event.preventDefault();
    action();
  } else if (event.key === "/") {
    const search = main.querySelector("input[type=search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  } else if (event.key === "g") {
    pendingG = true;
  } else if (event.key === "?") {
    document.getElementById("help-dialog").showModal();
  }
});

document.getElementById("help-button").addEventListener("click", () => document.getElementById("help-dialog").showModal());
const signout = document.getElementById("signout");
const showSignout = () => { signout.hidden = !credential(); };
signout.addEventListener("click", () => {
  forgetCredential();
  current.path = null;
  route();
});
document.addEventListener("prela:credential", showSignout);
showSignout();
route();
