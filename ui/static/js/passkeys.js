// Passkeys: the site's one script. Every page works without it; only the
// passkey forms need it, and they stay hidden unless the browser can use
// passkeys.
//
// A form marked data-passkey="login" or "register" holds a button and a
// hidden "credential" field. The button asks the site for the ceremony's
// options (a JSON POST to data-options; the site keeps the challenge in
// the session), hands them to the browser's WebAuthn API, puts the answer
// in the hidden field and submits the form like any other.
"use strict";

(() => {
  const PKC = window.PublicKeyCredential;
  if (!PKC || !PKC.parseCreationOptionsFromJSON || !PKC.parseRequestOptionsFromJSON || !navigator.credentials) {
    return;
  }

  const forms = document.querySelectorAll("form[data-passkey]");
  if (forms.length === 0) {
    return;
  }

  // SiteError carries a message of the site's, fit to show.
  class SiteError extends Error {}

  const showError = (form, message) => {
    const el = form.querySelector(".passkey-error");
    if (el) {
      el.textContent = message;
      el.hidden = !message;
    }
  };

  // options fetches the ceremony's options; when the site first wants the
  // user to confirm access, it goes there instead.
  const options = async (form) => {
    const res = await fetch(form.dataset.options, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json" },
      body: "{}",
    });
    let data = {};
    try {
      data = await res.json();
    } catch {
      // An error page rather than JSON: data stays empty.
    }
    if (res.status === 403 && typeof data.redirect === "string" && data.redirect.startsWith("/")) {
      window.location.assign(data.redirect);
      return null;
    }
    if (!res.ok || !data.publicKey) {
      throw new SiteError(data.error || "Passkeys are not available right now. Please try again.");
    }
    return data;
  };

  // run performs the ceremony of form and submits its answer. mediation
  // and signal serve the conditional (autofill) sign-in.
  const run = async (form, mediation, signal) => {
    const pending = options(form);
    if (mediation) {
      conditionalOptions = pending.catch(() => null);
    }
    const data = await pending;
    if (!data || (signal && signal.aborted)) {
      return;
    }
    let credential;
    if (form.dataset.passkey === "register") {
      credential = await navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(data.publicKey) });
    } else {
      const request = { publicKey: PKC.parseRequestOptionsFromJSON(data.publicKey) };
      if (mediation) {
        request.mediation = mediation;
        request.signal = signal;
      }
      credential = await navigator.credentials.get(request);
    }
    if (!credential) {
      return;
    }
    if (submitting) {
      return; // another ceremony of this page is answering already
    }
    submitting = true;
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    const remember = document.getElementById("remember");
    if (form.elements.remember && remember) {
      form.elements.remember.value = remember.checked ? "on" : "";
    }
    form.submit();
  };

  // failed shows why a ceremony the user started did not finish; the user
  // closing the browser's dialog is no error.
  const failed = (form, err) => {
    if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
      showError(form, "");
      return;
    }
    showError(form, err instanceof SiteError ? err.message : "The passkey could not be used. Please try again.");
  };

  // The autofill sign-in: its AbortController, and its request for options,
  // which a click waits for, so that the click's ceremony is the one the
  // session keeps. submitting is set once a form goes: one answer per page.
  let conditional = null;
  let conditionalOptions = null;
  let submitting = false;

  for (const form of forms) {
    form.hidden = false;
    const button = form.querySelector("button");
    button.addEventListener("click", async () => {
      if (submitting) {
        return;
      }
      showError(form, "");
      button.disabled = true;
      if (conditional) {
        conditional.abort();
        conditional = null;
        await conditionalOptions;
      }
      try {
        await run(form);
      } catch (err) {
        failed(form, err);
      } finally {
        button.disabled = false;
      }
    });
  }
  for (const el of document.querySelectorAll(".passkey-unsupported")) {
    el.hidden = true;
  }

  // Conditional UI: on the login page, the browser offers the site's
  // passkeys in the email field's autofill (autocomplete="… webauthn"). The
  // request starts when the field takes the focus, so that a page merely
  // loaded answers nothing by itself (an authenticator that needs no
  // gesture, as in automated browsers, would sign in before any click).
  const login = document.querySelector('form[data-passkey="login"][action="/login/passkey"]');
  const email = document.querySelector('input[autocomplete~="webauthn"]');
  const startConditional = () => {
    PKC.isConditionalMediationAvailable().then((available) => {
      if (!available || conditional || submitting) {
        return;
      }
      conditional = new AbortController();
      run(login, "conditional", conditional.signal).catch(() => {
        // Aborted for the button, or refused: the forms remain.
      });
    }).catch(() => {});
  };
  if (login && email && login.dataset.conditional !== "off" && PKC.isConditionalMediationAvailable) {
    if (document.activeElement === email) {
      startConditional();
    } else {
      email.addEventListener("focus", startConditional, { once: true });
    }
  }
})();
