// Who is signed in: a bearer token kept for this tab only (sessionStorage), never in a URL.
//
// The token comes from the OpenID provider through the authorization code flow with PKCE, state
// and nonce (signin.js); nothing else hands one to the page: a link cannot sign anybody in.
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

// The claims of a token as the page reads them (display only: the API verifies the token).
export function claimsOf(value) {
  return value ? decode(value) : null;
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
  sessionStorage.removeItem("timebok.signin");
  window.dispatchEvent(new Event("timebok:signed-in"));
}

// The people a citizen may book for: themselves first, then those in `represents`.
export function people() {
  const c = claims();
  if (!c) return [];
  return [{ pid: c.sub, name: c.name || "Meg selv", self: true }, ...(c.represents || []).map((p) => ({ ...p, self: false }))];
}
