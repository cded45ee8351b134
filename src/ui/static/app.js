// The mcp-guard dashboard: pending approvals (live over SSE), recent calls, spend and backends.
// Everything is built with DOM calls and textContent (never innerHTML): arguments come from agents.
// The page holds no secret: the session cookie is HttpOnly; the CSRF token comes from /admin/session.

const state = {
  csrf: '',
  name: '',
  /** id → approval JSON (as the admin API returns it) */
  approvals: new Map(),
  /** ids decided from this page (their SSE echo is not news) */
  decidedHere: new Set(),
  view: 'approvals',
  focus: null,
};

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const money = (usd) => (usd === null || usd === undefined ? '—' : `$${Number(usd).toFixed(2)}`);

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function until(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return 'expired';
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.floor(s / 60)} min`;
  if (s < 86400) return `in ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `in ${Math.floor(s / 86400)} d`;
}

let toastTimer;
function toast(message) {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options = {}) {
  const headers = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.method && options.method !== 'GET') headers['x-csrf-token'] = state.csrf;
  const res = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (res.status === 401) {
    location.assign(`/ui/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, 'unauthorized', 'signed out');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok)
    throw new ApiError(res.status, body.error?.code ?? 'error', body.error?.message ?? res.statusText);
  return body;
}

// ------------------------------------------------------------------ approvals

function pendingCount() {
  let n = 0;
  for (const a of state.approvals.values())
    if (a.status === 'pending' && Date.parse(a.expires_at) > Date.now()) n++;
  const badge = document.getElementById('pending-count');
  badge.textContent = String(n);
  badge.hidden = n === 0;
  document.title = n > 0 ? `(${n}) Approvals · mcp-guard` : 'Approvals · mcp-guard';
  return n;
}

function argsBlock(args) {
  const text = typeof args === 'string' ? args : JSON.stringify(args, null, 2);
  return el('pre', { class: 'args', text });
}

function approvalCard(a) {
  const pending = a.status === 'pending' && Date.parse(a.expires_at) > Date.now();
  const card = el('article', { class: `card approval ${pending ? 'pending' : a.status}`, 'data-id': a.id });
  card.append(
    el(
      'div',
      { class: 'row head' },
      el(
        'div',
        { class: 'who' },
        el('strong', { text: a.agent }),
        el('span', { class: 'arrow', text: ' → ' }),
        el('code', { text: `${a.server}.${a.tool}` }),
      ),
      el('div', { class: 'amount', text: money(a.amount_usd) }),
    ),
    argsBlock(a.args),
    el(
      'p',
      { class: 'meta' },
      el('span', { class: 'age', 'data-created': a.created_at, text: `held ${ago(a.created_at)}` }),
      ' · ',
      pending
        ? el('span', {
            class: 'expiry',
            'data-expires': a.expires_at,
            text: `expires ${until(a.expires_at)}`,
          })
        : el('span', { class: `status ${a.status}`, text: statusText(a) }),
    ),
    el('p', { class: 'id' }, el('code', { text: a.id })),
  );
  if (pending) card.append(decisionForm(a));
  return card;
}

function statusText(a) {
  if (a.status === 'approved') return `approved by ${a.decided_by ?? '?'}${a.note ? `: ${a.note}` : ''}`;
  if (a.status === 'denied') return `denied by ${a.decided_by ?? '?'}${a.note ? `: ${a.note}` : ''}`;
  if (a.status === 'consumed') return `approved by ${a.decided_by ?? '?'} and run`;
  return a.status;
}

/** Approve / Deny with a note; each asks once more before it acts (a tap on a phone is easy to miss). */
function decisionForm(a) {
  const note = el('input', {
    type: 'text',
    class: 'note',
    name: 'note',
    placeholder: 'Note (optional; the agent sees a denial reason)',
    maxlength: '1000',
    'aria-label': `Note for ${a.id}`,
  });
  const approve = el('button', { type: 'button', class: 'approve', text: 'Approve' });
  const deny = el('button', { type: 'button', class: 'deny', text: 'Deny' });
  const cancel = el('button', { type: 'button', class: 'cancel', text: 'Cancel', hidden: true });
  const buttons = el('div', { class: 'buttons' }, approve, deny, cancel);
  let armed = null;
  const reset = () => {
    armed = null;
    approve.textContent = 'Approve';
    deny.textContent = 'Deny';
    approve.hidden = false;
    deny.hidden = false;
    cancel.hidden = true;
  };
  const arm = (which) => {
    armed = which;
    if (which === 'approve') {
      approve.textContent = `Confirm: approve ${money(a.amount_usd)}`;
      deny.hidden = true;
    } else {
      deny.textContent = 'Confirm: deny';
      approve.hidden = true;
    }
    cancel.hidden = false;
  };
  const act = async (which) => {
    if (armed !== which) return arm(which);
    approve.disabled = deny.disabled = cancel.disabled = true;
    const text = note.value.trim();
    try {
      const body = which === 'approve' ? { note: text || undefined } : { reason: text || undefined };
      state.decidedHere.add(a.id);
      const { approval } = await api(`/admin/approvals/${encodeURIComponent(a.id)}/${which}`, {
        method: 'POST',
        body,
      });
      state.approvals.set(approval.id, approval);
      toast(
        `${which === 'approve' ? 'Approved' : 'Denied'} ${approval.agent} → ${approval.tool} (${money(approval.amount_usd)})`,
      );
    } catch (err) {
      state.decidedHere.delete(a.id);
      toast(`Could not ${which}: ${err.message}`);
      if (err.code === 'approval_not_pending' || err.code === 'approval_expired') await loadApprovals();
    }
    render();
  };
  approve.addEventListener('click', () => act('approve'));
  deny.addEventListener('click', () => act('deny'));
  cancel.addEventListener('click', reset);
  return el('div', { class: 'decide' }, note, buttons);
}

async function loadApprovals() {
  const { approvals } = await api('/admin/approvals?status=pending&limit=500');
  for (const [id, a] of state.approvals) if (a.status === 'pending') state.approvals.delete(id);
  for (const a of approvals) state.approvals.set(a.id, a);
  if (state.focus && !state.approvals.has(state.focus)) {
    try {
      const { approval } = await api(`/admin/approvals/${encodeURIComponent(state.focus)}`);
      state.approvals.set(approval.id, approval);
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }
}

function renderApprovals(view) {
  const now = Date.now();
  const pending = [...state.approvals.values()]
    .filter((a) => a.status === 'pending' && Date.parse(a.expires_at) > now)
    .sort((x, y) => Date.parse(y.created_at) - Date.parse(x.created_at));
  if (state.focus) {
    const one = state.approvals.get(state.focus);
    view.append(el('p', {}, el('a', { href: '/ui/', 'data-link': true, text: '← All pending approvals' })));
    view.append(one ? approvalCard(one) : el('p', { class: 'empty', text: `No approval ${state.focus}.` }));
    return;
  }
  view.append(el('h1', { text: 'Pending approvals' }));
  if (pending.length === 0) {
    view.append(
      el('p', { class: 'empty', text: 'Nothing is waiting. Held calls appear here as they happen.' }),
    );
    return;
  }
  const list = el('div', { class: 'list', id: 'approvals' });
  for (const a of pending) list.append(approvalCard(a));
  view.append(list);
}

// ------------------------------------------------------------------ calls, spend, backends

async function renderCalls(view) {
  const params = new URLSearchParams(location.search);
  const field = (name, label, attrs = {}) =>
    el(
      'label',
      {},
      label,
      el('input', { name, value: params.get(name) ?? '', autocapitalize: 'off', ...attrs }),
    );
  const decision = el(
    'select',
    { name: 'decision' },
    ['', 'allowed', 'approved', 'held', 'denied', 'rate_limited', 'spend_capped'].map((d) =>
      el('option', { value: d, selected: params.get('decision') === d, text: d || 'any decision' }),
    ),
  );
  const form = el(
    'form',
    {
      class: 'filters',
      onsubmit: (e) => {
        e.preventDefault();
        const q = new URLSearchParams();
        for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
        navigate(`/ui/calls${q.size ? `?${q}` : ''}`);
      },
    },
    field('agent', 'Agent'),
    field('tool', 'Tool'),
    el('label', {}, 'Decision', decision),
    el('button', { type: 'submit', class: 'primary', text: 'Filter' }),
  );
  view.append(el('h1', { text: 'Recent calls' }), form);
  const q = new URLSearchParams(params);
  q.set('limit', '100');
  try {
    const { calls } = await api(`/admin/calls?${q}`);
    if (calls.length === 0) return view.append(el('p', { class: 'empty', text: 'No calls match.' }));
    const list = el('div', { class: 'list' });
    for (const c of calls) {
      list.append(
        el(
          'article',
          { class: `card call ${c.decision ?? ''}` },
          el(
            'div',
            { class: 'row head' },
            el(
              'div',
              { class: 'who' },
              el('strong', { text: c.agent ?? '?' }),
              ' → ',
              el('code', { text: c.server ? `${c.server}.${c.tool}` : (c.tool ?? '?') }),
            ),
            el('div', { class: 'amount', text: c.amount_usd === null ? '' : money(c.amount_usd) }),
          ),
          el(
            'p',
            { class: 'meta' },
            el('span', { class: `badge ${c.decision}`, text: c.decision ?? '—' }),
            ` ${c.outcome ?? ''}${c.error_code !== null ? ` (${c.error_code})` : ''}`,
            c.latency_ms !== null ? ` · ${c.latency_ms} ms` : '',
            ` · ${ago(c.ts)}`,
          ),
          c.reason ? el('p', { class: 'reason', text: c.reason }) : null,
        ),
      );
    }
    view.append(list);
  } catch (err) {
    view.append(
      el('p', {
        class: 'empty',
        text:
          err.code === 'audit_log_off'
            ? 'Recent calls come from the audit log, which is off (policies.audit_log).'
            : err.message,
      }),
    );
  }
}

async function renderSpend(view) {
  view.append(el('h1', { text: 'Spend' }));
  const s = await api('/admin/spend');
  view.append(
    el('p', {
      class: 'meta',
      text: `This window: ${new Date(s.window.start).toLocaleString()} – ${new Date(s.window.end).toLocaleString()}`,
    }),
  );
  const list = el('div', { class: 'list' });
  const row = (label, spent, cap) =>
    el(
      'article',
      { class: 'card spend' },
      el(
        'div',
        { class: 'row head' },
        el('strong', { text: label }),
        el('span', {
          class: 'amount',
          text: cap === null ? `${money(spent)} (no cap)` : `${money(spent)} of ${money(cap)}`,
        }),
      ),
      cap === null
        ? null
        : el('progress', {
            max: String(cap || 1),
            value: String(Math.min(spent, cap)),
            'aria-label': `${label} spend`,
          }),
    );
  if (s.global.cap_usd !== null || s.global.spent_usd > 0)
    list.append(row('All agents', s.global.spent_usd, s.global.cap_usd));
  for (const a of s.agents) list.append(row(a.agent, a.spent_usd, a.cap_usd));
  if (list.childElementCount === 0) list.append(el('p', { class: 'empty', text: 'No agents known yet.' }));
  view.append(list);
}

async function renderBackends(view) {
  view.append(el('h1', { text: 'Backends' }));
  const b = await api('/admin/backends');
  view.append(
    el('p', { class: 'meta', text: `${b.sessions} agent session(s) · ${b.children} backend process(es)` }),
  );
  const list = el('div', { class: 'list' });
  for (const s of b.backends) {
    list.append(
      el(
        'article',
        { class: `card backend ${s.status}` },
        el(
          'div',
          { class: 'row head' },
          el('strong', { text: s.name }),
          el('span', { class: `badge ${s.status}`, text: s.status.replace('_', ' ') }),
        ),
        el('p', {
          class: 'meta',
          text: `${s.kind} · ${s.isolation}${s.since ? ` · since ${ago(s.since)}` : ''}`,
        }),
        s.error ? el('p', { class: 'reason', text: s.error }) : null,
      ),
    );
  }
  view.append(list);
}

// ------------------------------------------------------------------ routing and rendering

function parseLocation() {
  const path = location.pathname;
  const m = /^\/ui\/approvals\/([A-Za-z0-9_-]+)$/.exec(path);
  state.focus = m ? m[1] : null;
  state.view = m || path === '/ui/' || path === '/ui/approvals' ? 'approvals' : path.slice(4);
}

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const view = el('div');
  // Until the newest render lands, the page still shows the previous view: say so, for screen readers
  // and for anyone (a test, a script) waiting on the new content.
  document.getElementById('view').setAttribute('aria-busy', 'true');
  for (const a of document.querySelectorAll('nav.tabs a'))
    a.classList.toggle('active', a.dataset.view === state.view);
  pendingCount();
  try {
    if (state.view === 'approvals') renderApprovals(view);
    else if (state.view === 'calls') await renderCalls(view);
    else if (state.view === 'spend') await renderSpend(view);
    else if (state.view === 'backends') await renderBackends(view);
  } catch (err) {
    view.append(el('p', { class: 'empty', text: `Could not load: ${err.message}` }));
  }
  if (seq !== renderSeq) return;
  const main = document.getElementById('view');
  // Keep what someone is typing in a note across live re-renders.
  const notes = new Map(
    [...main.querySelectorAll('article[data-id] input.note')].map((i) => [
      i.closest('article').dataset.id,
      i.value,
    ]),
  );
  const active = document.activeElement?.closest?.('article[data-id]')?.dataset.id;
  main.replaceChildren(...view.childNodes);
  main.removeAttribute('aria-busy');
  for (const [id, value] of notes) {
    const input = main.querySelector(`article[data-id="${CSS.escape(id)}"] input.note`);
    if (input) {
      input.value = value;
      if (id === active) input.focus();
    }
  }
}

function navigate(path) {
  history.pushState(null, '', path);
  parseLocation();
  void render();
}

/** Refreshes the relative times without rebuilding the page. */
function tick() {
  for (const n of document.querySelectorAll('[data-created]'))
    n.textContent = `held ${ago(n.dataset.created)}`;
  for (const n of document.querySelectorAll('[data-expires]'))
    n.textContent = `expires ${until(n.dataset.expires)}`;
  if (
    state.view === 'approvals' &&
    [...document.querySelectorAll('[data-expires]')].some((n) => Date.parse(n.dataset.expires) <= Date.now())
  )
    void render();
}

// ------------------------------------------------------------------ live events

function connect() {
  const live = document.getElementById('live');
  const source = new EventSource('/admin/events');
  source.addEventListener('ready', async () => {
    live.textContent = 'live';
    live.classList.add('on');
    // Loaded after the stream is open, so nothing created in between is missed.
    await loadApprovals().catch(() => {});
    if (state.view === 'approvals') void render();
    else pendingCount();
  });
  source.addEventListener('approval_created', (e) => {
    const a = JSON.parse(e.data);
    if (!state.approvals.has(a.id)) state.approvals.set(a.id, a);
    if (state.view === 'approvals') void render();
    else pendingCount();
  });
  source.addEventListener('approval_decided', (e) => {
    const a = JSON.parse(e.data);
    const before = state.approvals.get(a.id);
    state.approvals.set(a.id, a);
    if (before?.status === 'pending' && !state.decidedHere.has(a.id)) toast(`${a.id}: ${statusText(a)}`);
    if (state.view === 'approvals') void render();
    else pendingCount();
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
    // A closed stream may mean the session ended: find out (api() sends us to the sign-in page).
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => {
        api('/admin/session').then(connect, () => {});
      }, 2000);
    }
  });
}

// ------------------------------------------------------------------ start

document.addEventListener('DOMContentLoaded', async () => {
  let session;
  try {
    session = await api('/admin/session');
  } catch {
    return;
  }
  state.csrf = session.csrf_token ?? '';
  state.name = session.name;
  document.getElementById('sign-out').addEventListener('click', async () => {
    await fetch('/ui/logout', {
      method: 'POST',
      headers: { 'x-csrf-token': state.csrf },
      credentials: 'same-origin',
    });
    location.assign('/ui/login');
  });
  document.addEventListener('click', (e) => {
    const a = e.target.closest?.('a[href^="/ui/"]');
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => {
    parseLocation();
    void render();
  });
  parseLocation();
  connect();
  await loadApprovals().catch(() => {});
  await render();
  setInterval(tick, 5000);
});
