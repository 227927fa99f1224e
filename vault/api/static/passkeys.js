// Passkeys for Bürgertresor: the only script on the citizen pages (everything else works without it).
// Buttons stay hidden unless the browser supports WebAuthn; errors are announced in a live region.
"use strict";

(function () {
  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function toB64url(buffer) {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: (json.excludeCredentials || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) })),
    });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) })),
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const response = {};
    for (const name of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
      if (credential.response[name]) response[name] = toB64url(credential.response[name]);
    }
    if (credential.response.getTransports) response.transports = credential.response.getTransports();
    return { id: credential.id, rawId: toB64url(credential.rawId), type: credential.type, response: response,
             clientExtensionResults: credential.getClientExtensionResults(), authenticatorAttachment: credential.authenticatorAttachment };
  }

  async function post(url, csrf, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: body,
    });
    if (response.status === 403 && (await response.clone().json().catch(() => ({}))).error === "reauthentication_required") {
      throw new ReauthRequired();
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  // Adding a passkey needs a recent sign-in: the server says so with a 403, and the page sends the
  // citizen to sign in again (the button's data-reauth), who then comes back to the settings.
  class ReauthRequired extends Error {}

  function wire(button, run) {
    if (!button || !window.PublicKeyCredential || !navigator.credentials) return;
    const status = document.getElementById("passkey-status");
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      if (status) status.textContent = "";
      try {
        await run(button.dataset.csrf, button.dataset.next || "/");
      } catch (error) {
        if (error instanceof ReauthRequired && button.dataset.reauth) {
          window.location.assign(button.dataset.reauth);
          return;
        }
        if (status) status.textContent = button.dataset.failed;
        button.disabled = false;
      }
    });
  }

  wire(document.getElementById("add-passkey"), async (csrf) => {
    const options = await post("/api/v1/me/passkeys/options", csrf, "{}");
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    await post("/api/v1/me/passkeys", csrf, JSON.stringify(credentialJSON(credential)));
    window.location.reload();
  });

  wire(document.getElementById("passkey-login"), async (csrf, next) => {
    const options = await post("/login/passkey/options", csrf, "{}");
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const result = await post("/login/passkey?next=" + encodeURIComponent(next), csrf, JSON.stringify(credentialJSON(credential)));
    const target = new URL(result.redirect, window.location.origin);
    window.location.assign(target.origin === window.location.origin ? target.href : "/");
  });
})();
