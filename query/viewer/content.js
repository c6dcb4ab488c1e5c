// Prompts and completions as a conversation, whatever convention wrote them (see API_CONTRACT.md):
// OTel GenAI messages with parts, role/content lists (OpenAI, Anthropic blocks), OpenInference's
// flattened tool calls; any other JSON pretty-printed, anything else as plain text.

import { h } from "./dom.js";

const LONG_TEXT = 1600;

export function parseJson(text) {
  if (typeof text !== "string") return text;
  const t = text.trim();
  if (t[0] !== "[" && t[0] !== "{") return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

function pretty(value) {
  const parsed = typeof value === "string" ? parseJson(value) : value;
  if (parsed === undefined) return String(value);
  return typeof parsed === "string" ? parsed : JSON.stringify(parsed, null, 2);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function contentParts(content) {
  if (content === undefined || content === null) return [];
  if (typeof content === "string") return [{ kind: "text", text: content }];
  if (!Array.isArray(content)) return [{ kind: "other", value: content }];
  return content.flatMap((block) => {
    if (typeof block === "string") return [{ kind: "text", text: block }];
    if (!isObject(block)) return [{ kind: "other", value: block }];
    const type = block.type || (block.text !== undefined ? "text" : "");
    if (type === "text" || type === "input_text" || type === "output_text") return [{ kind: "text", text: block.text ?? block.content ?? "" }];
    if (type === "thinking" || type === "reasoning") return [{ kind: "reasoning", text: block.thinking ?? block.content ?? block.text ?? "" }];
    if (type === "tool_use") return [{ kind: "tool_call", id: block.id, name: block.name, args: block.input }];
    if (type === "tool_result") return [{ kind: "tool_result", id: block.tool_use_id, result: block.content }];
    return [{ kind: "other", value: block }];
  });
}

function genAiParts(parts) {
  return parts.map((part) => {
    if (!isObject(part)) return { kind: "text", text: String(part) };
    switch (part.type) {
      case "text": return { kind: "text", text: part.content ?? part.text ?? "" };
      case "reasoning": return { kind: "reasoning", text: part.content ?? "" };
      case "tool_call": return { kind: "tool_call", id: part.id, name: part.name, args: part.arguments };
      case "tool_call_response": return { kind: "tool_result", id: part.id, result: part.response ?? part.result };
      default: return { kind: "other", value: part };
    }
  });
}

function toolCalls(calls) {
  return (Array.isArray(calls) ? calls : []).map((call) => {
    const inner = (isObject(call) && call.tool_call) || call;
    const fn = (isObject(inner) && inner.function) || inner || {};
    return { kind: "tool_call", id: inner.id ?? call.id, name: fn.name, args: fn.arguments ?? fn.input };
  });
}

/** Flattened members (`tool_calls.0.tool_call.function.name`, as indexed attributes are stored) nested. */
function unflatten(msg) {
  if (!Object.keys(msg).some((k) => k.includes("."))) return msg;
  const out = {};
  for (const [key, value] of Object.entries(msg)) {
    const path = key.split(".");
    let node = out;
    path.forEach((segment, i) => {
      if (i === path.length - 1) {
        if (!isObject(node[segment]) && !Array.isArray(node[segment])) node[segment] = value;
        return;
      }
      if (node[segment] === undefined || !(typeof node[segment] === "object")) node[segment] = /^\d+$/.test(path[i + 1]) ? [] : {};
      node = node[segment];
    });
  }
  for (const [key, value] of Object.entries(out)) if (Array.isArray(value)) out[key] = value.filter((v) => v !== undefined);
  return out;
}

function normalizeMessage(raw) {
  const flat = unflatten(raw);
  const msg = isObject(flat.message) && flat.message.role !== undefined ? flat.message : flat;
  let parts = Array.isArray(msg.parts) ? genAiParts(msg.parts) : contentParts(msg.content ?? msg.text);
  if (Array.isArray(msg.contents)) parts = parts.concat(contentParts(msg.contents.map((c) => (isObject(c) && c.message_content) || c)));
  if (msg.tool_calls) parts = parts.concat(toolCalls(msg.tool_calls));
  if (isObject(msg.function_call)) parts.push({ kind: "tool_call", name: msg.function_call.name, args: msg.function_call.arguments });
  const role = String(msg.role ?? "unknown").toLowerCase();
  if (role === "tool" && msg.tool_call_id !== undefined && parts.every((p) => p.kind === "text")) {
    parts = [{ kind: "tool_result", id: msg.tool_call_id, result: parts.map((p) => p.text).join("\n") }];
  }
  return { role, name: msg.name, parts, finish: msg.finish_reason };
}

/** A list of normalized messages, or null when `value` is not a conversation. */
export function toMessages(value) {
  if (Array.isArray(value)) {
    const looksLike = value.length > 0 && value.every((m) => isObject(m) && (m.role !== undefined || m["message.role"] !== undefined
      || (isObject(m.message) && m.message.role !== undefined)));
    return looksLike ? value.map(normalizeMessage) : null;
  }
  if (!isObject(value)) return null;
  if (value.role !== undefined) return [normalizeMessage(value)];
  if (Array.isArray(value.messages)) return toMessages(value.messages);
  if (Array.isArray(value.choices)) return toMessages(value.choices.map((c) => c.message).filter(isObject));
  return null;
}

function textBlock(text, cls) {
  const body = h("div", { class: ["text", cls] }, text);
  if (text.length <= LONG_TEXT) return body;
  body.classList.add("clamped");
  const toggle = h("button", { type: "button", class: "link small" }, `Show all (${text.length.toLocaleString("en-US")} characters)`);
  toggle.addEventListener("click", () => {
    const clamped = body.classList.toggle("clamped");
    toggle.textContent = clamped ? `Show all (${text.length.toLocaleString("en-US")} characters)` : "Show less";
  });
  return [body, toggle];
}

function renderPart(part) {
  switch (part.kind) {
    case "text": return textBlock(String(part.text));
    case "reasoning": return h("details", { class: "reasoning" }, h("summary", {}, "Reasoning"), textBlock(String(part.text)));
    case "tool_call":
      return h("div", { class: "tool-call" },
        h("div", { class: "tool-head" }, h("span", { class: "arrow" }, "→ tool call "), h("strong", {}, part.name || "(unnamed)"),
          part.id ? h("span", { class: "muted mono small" }, ` ${part.id}`) : null),
        part.args !== undefined && part.args !== "" ? h("pre", { class: "code" }, pretty(part.args)) : null);
    case "tool_result":
      return h("div", { class: "tool-result" },
        h("div", { class: "tool-head" }, h("span", { class: "arrow" }, "← tool result"),
          part.id ? h("span", { class: "muted mono small" }, ` ${part.id}`) : null),
        h("pre", { class: "code" }, pretty(part.result ?? "")));
    default: return h("pre", { class: "code" }, pretty(part.value));
  }
}

export function renderMessage(message) {
  return h("div", { class: ["msg", `role-${message.role.replace(/[^a-z_-]/g, "")}`] },
    h("div", { class: "msg-head" }, h("span", { class: "role" }, message.role),
      message.name ? h("span", { class: "muted" }, ` ${message.name}`) : null,
      message.finish ? h("span", { class: "muted small finish" }, `finish: ${message.finish}`) : null),
    h("div", { class: "msg-body" }, message.parts.map(renderPart)));
}

/** The rendering of one `input`/`output` string: a conversation, pretty JSON or plain text. */
export function renderContent(text) {
  if (text === undefined || text === null || text === "") return null;
  const parsed = parseJson(text);
  const messages = parsed === undefined ? null : toMessages(parsed);
  if (messages) return h("div", { class: "conversation" }, messages.map(renderMessage));
  if (parsed !== undefined) return h("pre", { class: "code" }, JSON.stringify(parsed, null, 2));
  return h("div", { class: "conversation" }, textBlock(String(text), "plain"));
}
