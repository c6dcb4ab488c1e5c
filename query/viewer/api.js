// The query API client: one credential per tab (sessionStorage), a 401 asks for it again.

const STORAGE_KEY = "prela.credential";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function credential() {
  return sessionStorage.getItem(STORAGE_KEY) || "";
}

export function forgetCredential() {
  sessionStorage.removeItem(STORAGE_KEY);
  document.dispatchEvent(new Event("prela:credential"));
}

function authHeaders() {
  const value = credential();
  if (!value) return {};
  return value.startsWith("pk_") ? { "X-API-Key": value } : { Authorization: `Bearer ${value}` };
}

let pending = null; // one prompt for all the requests that got a 401 together

function askForCredential(reason) {
  if (pending) return pending;
  const dialog = document.getElementById("auth-dialog");
  const form = document.getElementById("auth-form");
  const input = document.getElementById("auth-credential");
  document.getElementById("auth-reason").textContent = reason;
  input.value = "";
  pending = new Promise((resolve) => {
    const done = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      sessionStorage.setItem(STORAGE_KEY, value);
      form.removeEventListener("submit", done);
      dialog.removeEventListener("cancel", keepOpen);
      dialog.close();
      pending = null;
      document.dispatchEvent(new Event("prela:credential"));
      resolve();
    };
    const keepOpen = (event) => event.preventDefault(); // nothing works without it: Esc does not dismiss
    form.addEventListener("submit", done);
    dialog.addEventListener("cancel", keepOpen);
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return pending;
}

/** GET /api/v1/<path> with `params` (empty values left out); the JSON body, or an ApiError. */
export async function api(path, params = {}, { signal } = {}) {
  const url = new URL(`/api/v1/${path}`, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  for (;;) {
    const response = await fetch(url, { headers: { Accept: "application/json", ...authHeaders() }, signal });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.status === 401) {
      const message = (body && body.error) || "a credential is required";
      const reason = credential() ? `The server refused the credential: ${message}.` : "This server requires a credential.";
      await askForCredential(reason);
      continue;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.error) || `${response.status} ${response.statusText}`);
    }
    return body;
  }
}
