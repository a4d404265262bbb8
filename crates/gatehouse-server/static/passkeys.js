// Passkeys in the browser (WebAuthn): the only script Gatehouse's pages
// load (CSP script-src 'self'). Buttons carry data-passkey="register",
// "second-factor" or "sign-in"; they stay hidden where WebAuthn is missing.
(() => {
  'use strict';
  const toBuf = (s) => {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  };
  const toB64 = (b) =>
    btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const field = (name) => {
    const el = document.querySelector(`input[name="${name}"]`);
    return el ? el.value : '';
  };
  const status = (msg) => {
    const el = document.getElementById('passkey-status');
    if (el) el.textContent = msg;
  };
  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': field('csrf_token') },
      body: JSON.stringify(body || {}),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error_description || j.error || `HTTP ${r.status}`);
    return j;
  }
  function creation(o) {
    const pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }
  function request(o) {
    const pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }
  const registration = (c) => ({
    id: c.id,
    rawId: toB64(c.rawId),
    type: c.type,
    response: {
      attestationObject: toB64(c.response.attestationObject),
      clientDataJSON: toB64(c.response.clientDataJSON),
    },
    extensions: c.getClientExtensionResults(),
  });
  const assertion = (c) => ({
    id: c.id,
    rawId: toB64(c.rawId),
    type: c.type,
    response: {
      authenticatorData: toB64(c.response.authenticatorData),
      clientDataJSON: toB64(c.response.clientDataJSON),
      signature: toB64(c.response.signature),
      userHandle: c.response.userHandle ? toB64(c.response.userHandle) : null,
    },
    extensions: c.getClientExtensionResults(),
  });
  const flows = {
    async register() {
      const options = await post('/account/passkeys/begin');
      const cred = await navigator.credentials.create(creation(options));
      return post('/account/passkeys/finish', { name: field('passkey_name'), credential: registration(cred) });
    },
    async 'second-factor'() {
      const options = await post('/login/second-factor/passkey/begin');
      const cred = await navigator.credentials.get(request(options));
      return post('/login/second-factor/passkey/finish', { credential: assertion(cred), return_to: field('return_to') });
    },
    async 'sign-in'() {
      const options = await post('/login/passkey/begin');
      const cred = await navigator.credentials.get(request(options));
      return post('/login/passkey/finish', { credential: assertion(cred), return_to: field('return_to') });
    },
  };
  document.addEventListener('DOMContentLoaded', () => {
    if (!window.PublicKeyCredential) return;
    for (const btn of document.querySelectorAll('[data-passkey]')) {
      btn.hidden = false;
      btn.addEventListener('click', async (ev) => {
        ev.preventDefault();
        status('Waiting for your passkey…');
        try {
          const done = await flows[btn.dataset.passkey]();
          const codes = done.recovery_codes || [];
          if (codes.length === 0) {
            status('Done.');
            window.location.assign(done.redirect || '/account');
            return;
          }
          // Recovery codes are shown once: list them, then let the member go on.
          const box = document.getElementById('passkey-status');
          box.textContent = 'Your passkey was added. Save these recovery codes now: they are shown only once.';
          const list = document.createElement('ul');
          list.className = 'recovery-codes';
          for (const c of codes) {
            const li = document.createElement('li');
            const code = document.createElement('code');
            code.textContent = c;
            li.appendChild(code);
            list.appendChild(li);
          }
          const next = document.createElement('a');
          next.href = done.redirect || '/account';
          next.textContent = 'Continue';
          box.append(list, next);
        } catch (e) {
          status(`The passkey did not work: ${e.message}`);
        }
      });
    }
  });
})();
