// The add-in's sign-in dialog, where Outlook offers no single sign-on: the authorization code
// flow with PKCE as a public client, in an Office dialog that opens on this page, goes to the
// issuer's sign-in page, comes back here with a code, redeems it and hands the token to the pane.
"use strict";

(() => {
  const KEY = "roomsync.signin";
  const here = `${location.origin}${location.pathname}`;
  const status = (message) => {
    document.getElementById("status").textContent = message;
  };

  const base64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes)))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  const random = (size) => base64url(crypto.getRandomValues(new Uint8Array(size)));

  function tell(message) {
    Office.context.ui.messageParent(JSON.stringify(message));
  }

  async function settings() {
    const answer = await fetch("sign-in.json", { headers: { Accept: "application/json" } });
    const body = await answer.json().catch(() => null);
    if (!answer.ok) throw new Error((body && body.detail) || `${answer.status} ${answer.statusText}`);
    return body;
  }

  // First visit: remember a verifier and a state, then go to the issuer's sign-in page.
  async function leave(query) {
    const found = await settings();
    const verifier = random(48);
    const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const state = random(24);
    sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, settings: found }));
    const target = new URL(found.authorization_endpoint);
    const params = {
      client_id: found.client_id,
      response_type: "code",
      redirect_uri: here,
      response_mode: "query",
      scope: `openid ${found.scope}`,
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    };
    if (query.get("hint")) params.login_hint = query.get("hint");
    for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value);
    location.assign(target.toString());
  }

  // Back from the issuer: the code for a token, which goes to the pane (and nowhere else).
  async function back(query) {
    const kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
    if (!kept || kept.state !== query.get("state")) throw new Error("the sign-in answer does not belong to this dialog");
    const answer = await fetch(kept.settings.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: kept.settings.client_id,
        code: query.get("code"),
        redirect_uri: here,
        code_verifier: kept.verifier,
        scope: `openid ${kept.settings.scope}`,
      }),
    });
    const body = await answer.json().catch(() => null);
    if (!answer.ok || !body || !body.access_token) {
      throw new Error((body && (body.error_description || body.error)) || `${answer.status}`);
    }
    tell({ token: body.access_token });
  }

  Office.onReady(async () => {
    const query = new URLSearchParams(location.search);
    try {
      if (query.get("error")) throw new Error(query.get("error_description") || query.get("error"));
      await (query.get("code") ? back(query) : leave(query));
    } catch (error) {
      status(error.message);
      tell({ error: error.message });
    }
  });
})();
