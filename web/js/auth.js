// Who is signed in: a bearer token kept for this tab only (sessionStorage).
//
// Locally (config.sign_in.mode "dev") the sign-in page asks POST /dev/token for a demo person's
// token. Deployed (mode "external"), the identity provider hands the page a token; see
// docs/portal.md, "Sign-in in AWS": the hook is setToken(), called with the provider's JWT,
// e.g. from the redirect back to /#/innlogget#access_token=...
const KEY = "timebok.token";

function decode(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="))
        .split("")
        .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
        .join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function token() {
  const value = sessionStorage.getItem(KEY);
  if (!value) return null;
  const claims = decode(value);
  if (!claims || (claims.exp && claims.exp * 1000 < Date.now())) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return value;
}

export function claims() {
  const value = token();
  return value ? decode(value) : null;
}

export function setToken(value) {
  if (!decode(value)) throw new Error("not a token");
  sessionStorage.setItem(KEY, value);
  window.dispatchEvent(new Event("timebok:signed-in"));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem("timebok.flow");
  window.dispatchEvent(new Event("timebok:signed-in"));
}

// The people a citizen may book for: themselves first, then those in `represents`.
export function people() {
  const c = claims();
  if (!c) return [];
  return [{ pid: c.sub, name: c.name || "Meg selv", self: true }, ...(c.represents || []).map((p) => ({ ...p, self: false }))];
}

// Deployed: a token from the identity provider arrives in the fragment after its redirect.
export function takeTokenFromFragment() {
  const match = /[#&]access_token=([^&]+)/.exec(location.hash);
  if (match) {
    setToken(decodeURIComponent(match[1]));
    return true;
  }
  return false;
}

// Let an identity provider's script hand over a token without knowing our modules.
window.timebok = Object.assign(window.timebok || {}, { setToken });
