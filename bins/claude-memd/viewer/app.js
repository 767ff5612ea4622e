// claude-memd viewer: a live, searchable view of the memory store. Plain JS, no build step,
// no third-party code; every request goes to this origin (the CSP allows nothing else).
// Text from records is only ever set as textContent, never parsed as HTML.
'use strict';

// Errors land in the page's log panel and in a list tests read.
window.__viewerErrors = [];
function logLine(text, isError) {
  const log = document.getElementById('log');
  if (isError) window.__viewerErrors.push(String(text));
  if (!log) return;
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + ' ' + text;
  if (isError) li.className = 'error';
  log.prepend(li);
  while (log.children.length > 50) log.lastElementChild.remove();
}
window.addEventListener('error', (e) => logLine('error: ' + e.message, true));
window.addEventListener('unhandledrejection', (e) => logLine('error: ' + (e.reason && e.reason.message || e.reason), true));
document.addEventListener('securitypolicyviolation', (e) => logLine('CSP blocked ' + e.blockedURI, true));

const PAGE = 30;
// Cards kept in the DOM: scrolling further drops the oldest-loaded from the top.
const MAX_CARDS = 150;

const KINDS = {
  observations: { api: '/api/observations', record: 'observation', event: 'observation-created', del: '/v1/observations/' },
  summaries: { api: '/api/summaries', record: 'summary', event: 'session-summary-created', del: '/v1/summaries/' },
  prompts: { api: '/api/prompts', record: 'prompt', event: 'user-prompt-created', del: '/v1/prompts/' },
};
const KIND_OF_RECORD = { observation: 'observations', summary: 'summaries', prompt: 'prompts' };

const state = {
  kind: 'observations', project: '', who: '', type: '', query: '',
  offset: 0, hasMore: true, loading: false, generation: 0,
  trimmed: false, settings: {}, projectKeys: {},
};
window.__viewer = state;

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin', headers: { accept: 'application/json' } }, opts || {}));
  if (r.status === 401) {
    logLine('logged out: run `claudectl mem open` for a new link', true);
    throw new Error('not logged in');
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(path + ': ' + (body.error || r.status));
  return body;
}

function when(text) {
  const d = new Date(text);
  return isNaN(d) ? text : d.toLocaleString();
}

// ---- settings (seed 000's /api/settings) ----

function saveSettings(patch) {
  Object.assign(state.settings, patch);
  api('/api/settings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(patch),
  }).catch((e) => logLine('settings not saved: ' + e.message, true));
}

function applyTheme(theme) {
  // 'system' (or nothing) follows prefers-color-scheme.
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  try { localStorage.setItem('claude-memd-theme', theme || 'system'); } catch (_) { /* private mode */ }
}

function effectiveTheme() {
  const t = document.documentElement.dataset.theme;
  if (t) return t;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applySidebar(open) {
  document.body.classList.toggle('sidebar-closed', !open);
  $('sidebar-toggle').setAttribute('aria-expanded', String(open));
}

// ---- cards ----

function list(items, cls) {
  const ul = el('ul', cls);
  for (const i of items || []) ul.append(el('li', null, i));
  return ul;
}

function section(card, label, text) {
  if (!text) return;
  const p = el('p');
  p.append(el('strong', null, label + ': '), document.createTextNode(text));
  card.append(p);
}

function files(card, label, items) {
  if (items && items.length) card.append(el('div', 'files', label + ': ' + items.join(', ')));
}

function cardFor(kind, r) {
  const record = KINDS[kind].record;
  const li = el('li', 'card');
  li.dataset.key = record + '-' + r.id;
  li.dataset.id = r.id;
  li.dataset.record = record;
  const head = el('header');
  if (kind === 'observations') {
    li.dataset.type = r.type || '';
    head.append(el('span', 'badge', r.type), el('h3', null, r.title));
    li.append(head);
    if (r.subtitle) li.append(el('div', 'sub', r.subtitle));
    if (r.facts && r.facts.length) li.append(list(r.facts));
    if (r.narrative) li.append(el('p', null, r.narrative));
    files(li, 'read', r.files_read);
    files(li, 'modified', r.files_modified);
    if (r.concepts && r.concepts.length) li.append(list(r.concepts, 'chips'));
  } else if (kind === 'summaries') {
    head.append(el('span', 'badge', 'summary'), el('h3', null, r.request || 'Session summary'));
    li.append(head);
    section(li, 'Investigated', r.investigated);
    section(li, 'Learned', r.learned);
    section(li, 'Completed', r.completed);
    section(li, 'Next steps', r.next_steps);
    section(li, 'Notes', r.notes);
    files(li, 'read', r.files_read);
    files(li, 'edited', r.files_edited);
  } else {
    head.append(el('span', 'badge', 'prompt #' + r.prompt_number), el('h3', null, r.prompt));
    li.append(head);
  }
  const meta = el('div', 'meta');
  const project = r.project_name || r.project;
  if (project) meta.append(el('span', null, project));
  if (r.by) meta.append(el('span', 'by', 'by ' + r.by));
  if (r.session_id) meta.append(el('span', null, 'session ' + String(r.session_id).slice(0, 8)));
  meta.append(el('time', null, when(r.created_at)), el('span', null, '#' + r.id));
  li.append(meta);
  if (r.project && r.project_name) state.projectKeys[r.project_name] = r.project;
  li.append(actions(li, kind, r));
  if (state.type && kind === 'observations' && li.dataset.type !== state.type) li.classList.add('filtered');
  return li;
}

function actions(li, kind, r) {
  const bar = el('div', 'actions');
  if (kind === 'observations') {
    const t = el('button', null, 'Timeline');
    t.type = 'button';
    t.addEventListener('click', () => openRecord('observation', r.id));
    bar.append(t);
  }
  const del = el('button', 'danger delete', 'Delete');
  del.type = 'button';
  del.setAttribute('aria-label', 'Delete ' + KINDS[kind].record + ' ' + r.id);
  del.addEventListener('click', () => confirmDelete(bar, kind, r.id));
  bar.append(del);
  return bar;
}

function confirmDelete(bar, kind, id) {
  const keep = Array.from(bar.children);
  bar.replaceChildren();
  const q = el('span', null, 'Forget this ' + KINDS[kind].record + ' for good?');
  const yes = el('button', 'danger confirm-delete', 'Delete');
  const no = el('button', 'cancel-delete', 'Cancel');
  yes.type = no.type = 'button';
  no.addEventListener('click', () => bar.replaceChildren(...keep));
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api(KINDS[kind].del + id, { method: 'DELETE' });
      removeCard(KINDS[kind].record, id);
      logLine('deleted ' + KINDS[kind].record + ' #' + id);
    } catch (e) {
      logLine('delete failed: ' + e.message, true);
      bar.replaceChildren(...keep);
    }
  });
  bar.append(q, yes, no);
  no.focus();
}

function removeCard(record, id) {
  const c = document.querySelector('[data-key="' + record + '-' + id + '"]');
  if (c && KIND_OF_RECORD[record] === state.kind && !state.query) state.offset = Math.max(0, state.offset - 1);
  if (c) c.remove();
}

// ---- the feed: pages newest first, bounded DOM ----

function resetFeed() {
  state.generation++;
  state.offset = 0;
  state.hasMore = true;
  state.loading = false;
  state.trimmed = false;
  $('list').replaceChildren();
  $('newer').hidden = true;
  $('status').textContent = '';
  $('sentinel').textContent = 'Loading…';
  $('type-field').hidden = state.kind !== 'observations';
  loadMore();
}

async function loadMore() {
  if (state.loading || !state.hasMore || state.query) return;
  state.loading = true;
  const gen = state.generation;
  const k = KINDS[state.kind];
  const params = new URLSearchParams({ limit: PAGE, offset: state.offset });
  if (state.project) params.set('project', state.project);
  if (state.who) params.set('who', state.who);
  try {
    const page = await api(k.api + '?' + params);
    if (gen !== state.generation) return;
    const items = page[state.kind] || [];
    const listEl = $('list');
    for (const r of items) {
      if (!document.querySelector('[data-key="' + k.record + '-' + r.id + '"]')) listEl.append(cardFor(state.kind, r));
    }
    state.offset += items.length;
    state.hasMore = page.hasMore && items.length > 0;
    trim();
    $('sentinel').textContent = state.hasMore ? 'Loading…' : (state.offset ? 'That is everything.' : 'Nothing recorded yet.');
  } catch (e) {
    logLine('loading failed: ' + e.message, true);
    $('sentinel').textContent = 'Loading failed; scroll to retry.';
  } finally {
    if (gen === state.generation) state.loading = false;
  }
  // A short page on a tall screen: keep filling while the sentinel is still visible.
  if (gen === state.generation && state.hasMore && sentinelVisible()) loadMore();
  // That check runs before the next frame's scroll anchoring (the trim above moves the
  // content up); after it the sentinel can sit in view with nothing left to scroll, no
  // scroll event and no change for the IntersectionObserver to report: the deep scroll
  // stalled there. Observing anew makes the observer report the sentinel's state after
  // that frame.
  else if (gen === state.generation && state.hasMore) watchSentinel();
}

let sentinelObserver;
function watchSentinel() {
  if (!sentinelObserver) {
    sentinelObserver = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '400px' });
  }
  sentinelObserver.unobserve($('sentinel'));
  sentinelObserver.observe($('sentinel'));
}

function sentinelVisible() {
  const r = $('sentinel').getBoundingClientRect();
  return r.top < window.innerHeight + 400;
}

function trim() {
  const listEl = $('list');
  while (listEl.children.length > MAX_CARDS) {
    // Scroll anchoring keeps what the reader looks at in place.
    listEl.firstElementChild.remove();
    state.trimmed = true;
  }
  $('newer').hidden = !state.trimmed;
}

// ---- live stream (SSE; the browser resends Last-Event-ID on reconnect) ----

// A teammate's record names who wrote it (`by`); records made here do not.
function matchesFilter(r) {
  if (state.who && (state.who === 'team') !== !!r.by) return false;
  if (!state.project) return true;
  return r.project_name === state.project || r.project === state.project;
}

function onCreated(kind, r) {
  if (kind !== state.kind || state.query || !matchesFilter(r)) return;
  const record = KINDS[kind].record;
  if (document.querySelector('[data-key="' + record + '-' + r.id + '"]')) return;
  state.offset++;
  if (state.trimmed) return; // the top of the list is not in the DOM; "Back to the newest" shows it
  const card = cardFor(kind, r);
  card.classList.add('fresh');
  const listEl = $('list');
  // Newest first by id: a replayed batch arrives oldest first, each goes on top.
  listEl.prepend(card);
  trim();
  if (!state.offset) $('sentinel').textContent = 'That is everything.';
}

function connect() {
  const es = new EventSource('/stream');
  state.stream = es;
  const live = $('live');
  es.addEventListener('connected', (e) => {
    live.textContent = 'live';
    live.classList.add('on');
    const d = JSON.parse(e.data);
    if (d.resumed) logLine('stream resumed after ' + (e.lastEventId || 'start'));
  });
  for (const kind of Object.keys(KINDS)) {
    es.addEventListener(KINDS[kind].event, (e) => onCreated(kind, JSON.parse(e.data)));
  }
  es.addEventListener('record-deleted', (e) => {
    const d = JSON.parse(e.data);
    removeCard(d.record, d.id);
  });
  es.addEventListener('queue-status', (e) => {
    const d = JSON.parse(e.data);
    state.queue = Object.assign(state.queue || {}, d);
    showQueue();
  });
  es.addEventListener('stream-reset', () => { if (!state.query) resetFeed(); });
  es.onerror = () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
  };
}

// ---- header: queue, provider, observer spend ----

function showQueue() {
  const q = state.queue || {};
  $('queue').textContent = 'queue ' + (q.pending || 0) + ' pending · ' + (q.processed || 0) + ' processed · ' + (q.failed || 0) + ' failed';
}

// "observer claude · today 12,345 / 500,000 tokens · $0.42 / $5.00": today's spend (UTC, as
// the budget counts it) against the day caps; a cap of 0 is no cap.
function spendText(o) {
  let text = 'observer ' + o.mode;
  const t = o.today;
  // A figure from an earlier UTC day means nothing was observed since midnight.
  const fresh = t && t.day === new Date().toISOString().slice(0, 10);
  const tokens = fresh ? t.tokens : 0;
  const usd = fresh ? t.usd : 0;
  text += ' · today ' + tokens.toLocaleString('en-US');
  if (t && t.tokens_cap) text += ' / ' + t.tokens_cap.toLocaleString('en-US');
  text += ' tokens · $' + usd.toFixed(usd > 0 && usd < 0.1 ? 4 : 2);
  if (t && t.usd_cap) text += ' / $' + t.usd_cap.toFixed(2);
  return text;
}

async function refreshHealth() {
  try {
    const h = await api('/v1/health');
    const d = h.details || h;
    state.queue = d.queue || state.queue;
    showQueue();
    $('provider').textContent = 'provider ' + (d.provider || '?');
    const o = d.observer;
    if (o) {
      $('spend').textContent = spendText(o);
      $('spend').hidden = false;
    }
    const s = d.semantic;
    if (s) {
      $('recall').textContent = s.state === 'absent' ? 'recall lexical'
        : s.state === 'error' ? 'recall lexical (model error)'
        : 'recall hybrid · ' + s.embedded + ' / ' + s.records + ' embedded';
      $('recall').hidden = false;
    }
  } catch (e) {
    // Transient while the daemon restarts; the stream indicator shows the outage.
    logLine('health: ' + e.message, false);
  }
}

// ---- projects, context preview ----

async function loadProjects() {
  const stats = await api('/api/stats');
  const sel = $('project');
  const names = Object.keys(stats.byProject || {}).sort();
  for (const n of names) {
    if (!Array.from(sel.options).some((o) => o.value === n)) sel.append(new Option(n, n));
  }
  if (state.project && !names.includes(state.project)) sel.append(new Option(state.project, state.project));
  sel.value = state.project;
}

async function loadContext() {
  const pre = $('context');
  const note = $('context-note');
  if (!state.project) {
    pre.textContent = '';
    note.textContent = 'Pick a project to see what a new session of it starts with.';
    return;
  }
  const key = state.projectKeys[state.project] || state.project;
  try {
    const c = await api('/v1/context?' + new URLSearchParams({ project: key }));
    note.textContent = c.observations + ' observations, about ' + c.tokens + ' tokens, for ' + c.project;
    pre.textContent = c.markdown;
  } catch (e) {
    note.textContent = 'No preview: ' + e.message;
    pre.textContent = '';
  }
}

// ---- search ----

function highlight(text, words) {
  const frag = document.createDocumentFragment();
  if (!words.length) { frag.append(text); return frag; }
  const re = new RegExp('(' + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|') + ')', 'gi');
  text.split(re).forEach((part, i) => frag.append(i % 2 ? el('mark', null, part) : document.createTextNode(part)));
  return frag;
}

// FTS snippets mark matches with [ and ].
function snippet(text) {
  const frag = document.createDocumentFragment();
  text.split(/(\[[^\]]*\])/).forEach((part) => {
    if (part.startsWith('[') && part.endsWith(']')) frag.append(el('mark', null, part.slice(1, -1)));
    else frag.append(part);
  });
  return frag;
}

async function runSearch() {
  const q = state.query;
  const gen = ++state.generation;
  const listEl = $('list');
  $('newer').hidden = true;
  $('sentinel').textContent = '';
  const params = new URLSearchParams({ q, limit: 50 });
  if (state.project) params.set('project', state.project);
  if (state.who) params.set('who', state.who);
  try {
    const res = await api('/v1/search?' + params);
    if (gen !== state.generation) return;
    const words = q.split(/\s+/).map((w) => w.replace(/["*()]/g, '')).filter((w) => w.length > 1);
    listEl.replaceChildren();
    for (const h of res.results) {
      const li = el('li', 'card result');
      li.dataset.key = h.record + '-' + h.id;
      li.tabIndex = 0;
      const head = el('header');
      const h3 = el('h3');
      h3.append(highlight(h.title, words));
      head.append(el('span', 'badge', h.type || h.record), h3);
      const p = el('p');
      p.append(snippet(h.snippet));
      const meta = el('div', 'meta');
      meta.append(el('span', null, h.project));
      if (h.by) meta.append(el('span', 'by', 'by ' + h.by));
      meta.append(el('time', null, when(h.created_at)), el('span', null, '#' + h.id));
      li.append(head, p, meta);
      const open = () => openRecord(h.record, h.id);
      li.addEventListener('click', open);
      li.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
      listEl.append(li);
    }
    $('status').textContent = res.results.length ? res.results.length + (res.hasMore ? '+' : '') + ' matches for “' + q + '”' : 'No matches for “' + q + '”';
  } catch (e) {
    if (gen === state.generation) $('status').textContent = 'Search failed: ' + e.message;
  }
}

async function openRecord(record, id) {
  const detail = $('detail');
  detail.replaceChildren(el('span', 'muted', 'Loading…'));
  applySidebar(true);
  try {
    let card;
    if (record === 'observation') {
      card = cardFor('observations', await api('/v1/observations/' + id));
      card.querySelector('.actions').remove();
    } else {
      card = el('div', 'card', record + ' #' + id);
    }
    const tl = await api('/v1/timeline?' + new URLSearchParams({ anchor: id, before: 5, after: 5 }));
    const ol = el('ol', 'timeline');
    for (const i of tl.items) {
      const li = el('li', i.anchor ? 'anchor' : null, when(i.created_at) + ' · ' + (i.type || i.record) + ' · ' + i.title);
      ol.append(li);
    }
    detail.replaceChildren(card, el('h2', null, 'Timeline'), ol);
  } catch (e) {
    detail.replaceChildren(el('span', 'muted', 'Could not open: ' + e.message));
  }
}

// ---- wiring ----

function selectTab(kind) {
  state.kind = kind;
  for (const b of document.querySelectorAll('[role="tab"]')) b.setAttribute('aria-selected', String(b.dataset.kind === kind));
  if (!state.query) resetFeed();
}

function wire() {
  for (const b of document.querySelectorAll('[role="tab"]')) {
    b.addEventListener('click', () => { selectTab(b.dataset.kind); saveSettings({ selectedKind: b.dataset.kind }); });
  }
  $('project').addEventListener('change', (e) => {
    state.project = e.target.value;
    saveSettings({ selectedProject: state.project || null });
    loadContext();
    if (state.query) runSearch(); else resetFeed();
  });
  $('who').addEventListener('change', (e) => {
    state.who = e.target.value;
    if (state.query) runSearch(); else resetFeed();
  });
  $('type').addEventListener('change', (e) => {
    state.type = e.target.value;
    for (const c of document.querySelectorAll('#list .card[data-type]')) c.classList.toggle('filtered', !!state.type && c.dataset.type !== state.type);
    if (sentinelVisible()) loadMore();
  });
  let timer;
  $('search').addEventListener('input', (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.query = e.target.value.trim();
      if (state.query) runSearch(); else resetFeed();
    }, 250);
  });
  $('theme').addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    applyTheme(next);
    saveSettings({ theme: next });
  });
  $('sidebar-toggle').addEventListener('click', () => {
    const open = document.body.classList.contains('sidebar-closed');
    applySidebar(open);
    saveSettings({ sidebarOpen: open });
  });
  $('newer').addEventListener('click', () => { window.scrollTo(0, 0); resetFeed(); });
  watchSentinel();
  // The observer only reports changes: a sentinel that stayed in view while a page was
  // loading would stall the scroll. Scrolling checks again.
  window.addEventListener('scroll', () => { if (sentinelVisible()) loadMore(); }, { passive: true });
}

async function start() {
  try { applyTheme(localStorage.getItem('claude-memd-theme')); } catch (_) { /* private mode */ }
  wire();
  try {
    state.settings = await api('/api/settings');
  } catch (e) {
    logLine('settings: ' + e.message, true);
  }
  const s = state.settings;
  applyTheme(s.theme);
  applySidebar(s.sidebarOpen !== false);
  state.project = s.selectedProject || '';
  if (KINDS[s.selectedKind]) state.kind = s.selectedKind;
  for (const b of document.querySelectorAll('[role="tab"]')) b.setAttribute('aria-selected', String(b.dataset.kind === state.kind));
  connect();
  await loadProjects().catch((e) => logLine('projects: ' + e.message, true));
  resetFeed();
  loadContext();
  refreshHealth();
  setInterval(refreshHealth, 10000);
  document.body.dataset.ready = 'true';
}

start();
