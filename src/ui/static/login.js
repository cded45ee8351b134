// The sign-in page: carries the page to return to, and says why a sign-in failed.
const params = new URLSearchParams(location.search);
const MESSAGES = {
  invalid: 'That is not an admin key.',
  missing: 'Enter an admin key.',
  rate_limited: 'Too many failed attempts from here: wait a minute and try again.',
  oauth_off: 'OAuth sign-in is not set up on this gateway.',
  oauth_failed: 'The OAuth sign-in did not complete; try again.',
  oauth_denied: 'The OAuth sign-in was cancelled.',
  oauth_scope: 'That account may not administer this gateway (no admin scope).',
};

document.addEventListener('DOMContentLoaded', () => {
  const next = params.get('next');
  if (next?.startsWith('/ui/')) document.getElementById('next').value = next;
  const error = MESSAGES[params.get('error')];
  if (error) {
    const box = document.getElementById('error');
    box.textContent = error;
    box.hidden = false;
  }
  document.getElementById('key').focus();
  // The OAuth button only where the gateway offers it.
  fetch('/ui/login/options', { credentials: 'same-origin' })
    .then((r) => r.json())
    .then((options) => {
      if (!options.oauth) return;
      const link = document.getElementById('oauth');
      if (next?.startsWith('/ui/')) link.href = `/ui/oauth/start?${new URLSearchParams({ next })}`;
      document.getElementById('oauth-box').hidden = false;
    })
    .catch(() => {});
});
