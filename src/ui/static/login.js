// The sign-in page: carries the page to return to, and says why a sign-in failed.
const params = new URLSearchParams(location.search);
const MESSAGES = {
  invalid: 'That is not an admin key.',
  missing: 'Enter an admin key.',
  rate_limited: 'Too many failed attempts from here: wait a minute and try again.',
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
});
