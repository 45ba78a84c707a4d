// Sign-in with OpenID Connect: the authorization code flow with PKCE, `state` and `nonce`
// (docs/security.md, "Sign-in"). config.json names the provider (`sign_in.issuer`, `client_id`):
// ID-porten or HelseID in AWS, chalicelib/local/oidc.py in `make run`.
//
// start() keeps a fresh state, nonce and PKCE verifier for this tab (sessionStorage) and sends the
// browser to the provider. finish() runs when the page loads: an answer in the address bar
// (`?code=&state=`) counts only if its state is the one this tab sent, once; the code is then
// exchanged for tokens with the verifier, and the ID token's signature, issuer, audience and
// nonce are checked before the access token is kept. No token is ever read from a URL, and the
// code and state leave the address bar (and the history) before anything else happens.
import { claimsOf, setToken } from "./auth.js";

const PENDING = "timebok.signin";
const SCOPE = "openid profile";

export class SignInError extends Error {}

const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

const random = (size = 32) => base64url(crypto.getRandomValues(new Uint8Array(size)));

const fromBase64url = (text) => {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/").padEnd(text.length + ((4 - (text.length % 4)) % 4), "="));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
};

async function challenge(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

async function getJson(url, options = {}) {
  const response = await fetch(url, { credentials: "omit", cache: "no-store", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new SignInError(body.error_description || body.error || `HTTP ${response.status}`);
  return body;
}

async function discover(issuer) {
  const document = await getJson(`${issuer}/.well-known/openid-configuration`);
  if (document.issuer !== issuer) throw new SignInError("the provider names another issuer");
  return document;
}

// Where the provider sends the browser back: this page, without hash or query (registered as is).
const redirectUri = () => `${location.origin}${location.pathname}`;

export async function start(config, next) {
  const { issuer, client_id: clientId } = config.sign_in;
  const provider = await discover(issuer);
  const pending = { issuer, clientId, redirectUri: redirectUri(), state: random(), nonce: random(), verifier: random(48), next: next || null };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: pending.redirectUri,
    scope: SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challenge(pending.verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

// The sign-in this tab started, taken out: one answer per sign-in, whatever that answer is.
function takePending() {
  const stored = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  try {
    return stored ? JSON.parse(stored) : null;
  } catch {
    return null;
  }
}

async function verifyIdToken(idToken, provider, pending) {
  const [header, payload, signature] = String(idToken || "").split(".");
  if (!signature) throw new SignInError("no ID token");
  const head = JSON.parse(new TextDecoder().decode(fromBase64url(header)));
  if (head.alg !== "RS256") throw new SignInError("unexpected ID token algorithm");
  const { keys } = await getJson(provider.jwks_uri);
  const jwk = keys.find((k) => k.kid === head.kid && k.kty === "RSA");
  if (!jwk) throw new SignInError("unknown ID token key");
  const key = await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  const signed = new TextEncoder().encode(`${header}.${payload}`);
  if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, fromBase64url(signature), signed))) throw new SignInError("bad ID token signature");
  const claims = JSON.parse(new TextDecoder().decode(fromBase64url(payload)));
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== pending.issuer || !audience.includes(pending.clientId)) throw new SignInError("ID token for someone else");
  if (claims.nonce !== pending.nonce) throw new SignInError("ID token nonce does not match");
  if (!claims.exp || claims.exp * 1000 < Date.now()) throw new SignInError("ID token expired");
  return claims;
}

// On page load. null: no answer in the address bar. {next}: signed in. Throws SignInError when the
// answer is refused (a state this tab never sent, a cancelled or failed sign-in): nobody is signed in.
export async function finish() {
  const answer = new URLSearchParams(location.search);
  if (!["code", "state", "error"].some((name) => answer.has(name))) return null;
  history.replaceState(history.state, "", `${location.pathname}${location.hash}`);
  const pending = takePending();
  if (!pending || !answer.get("state") || answer.get("state") !== pending.state) throw new SignInError("not a sign-in this tab started");
  if (answer.has("iss") && answer.get("iss") !== pending.issuer) throw new SignInError("answer from another provider");
  if (answer.has("error") || !answer.get("code")) throw new SignInError(answer.get("error") || "no code");
  try {
    return await exchange(answer.get("code"), pending);
  } catch (error) {
    throw error instanceof SignInError ? error : new SignInError(String(error)); // a network or format fault
  }
}

async function exchange(code, pending) {
  const provider = await discover(pending.issuer);
  const tokens = await getJson(provider.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const identity = await verifyIdToken(tokens.id_token, provider, pending);
  if (claimsOf(tokens.access_token)?.sub !== identity.sub) throw new SignInError("access token for someone else");
  setToken(tokens.access_token);
  return { next: pending.next };
}
