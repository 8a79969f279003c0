/**
 * The inspector page's script (served as /ui/app.js), as text: plain browser JavaScript with no
 * build step, so it is the same from the source tree and from the installed package. Everything
 * shown is set with `textContent` (names are user input: never parsed as HTML). It polls the JSON
 * endpoints, follows the live feed over Server-Sent Events, and draws the metric samples with
 * Chart.js (window.Chart, /ui/chart.js). A 401 from any endpoint (session ended) goes back to /ui,
 * which shows the login form.
 */
export const CLIENT_JS = String.raw`'use strict';
(function () {
  var MAX_FEED = 200;
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function time(ms) { return new Date(ms).toLocaleTimeString(); }
  function row(cells, cls) {
    var tr = el('tr', null, cls);
    cells.forEach(function (c) { tr.appendChild(typeof c === 'object' && c !== null ? c : el('td', c)); });
    return tr;
  }
  function fill(id, rows, columns, empty) {
    var body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren.apply(body, rows.length ? rows : [row([(function () { var td = el('td', empty, 'empty'); td.colSpan = columns; return td; })()])]);
  }
  function getJson(path) {
    return fetch(path, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { location.assign('/ui'); throw new Error('session ended'); }
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function overview() {
    return getJson('/ui/api/overview').then(function (o) {
      document.getElementById('process').textContent = 'hub process ' + o.process.pid + ', up ' + o.process.uptimeSeconds + ' s';
      document.getElementById('databases-note').textContent = o.truncated ? '(the first ' + o.databases.length + ' only)' : '(' + o.databases.length + ')';
      fill('databases', o.databases.map(function (d) {
        return row([d.name, d.app, d.owner,
          d.shares.map(function (s) { return s.user + ' (read ' + s.read + ', write ' + s.write + ')'; }).join('; ') || '—',
          d.tables.map(function (t) { return t.name + '(' + t.columns.join(', ') + ')'; }).join('; ') || '—',
          String(d.clients)]);
      }), 6, 'no databases yet');
      fill('users', o.users.map(function (u) {
        return row([u.app, u.user, u.owns.join(', ') || '—', u.shared.join(', ') || '—',
          u.clients.map(function (c) { return c.db + ' from ' + c.remote; }).join('; ') || '—']);
      }), 5, 'no users yet');
      fill('clients', o.clients.map(function (c) {
        return row([c.user, c.app, c.db, c.method, c.remote, time(c.since)]);
      }), 6, 'no client connected');
    });
  }

  function conflicts() {
    return getJson('/ui/api/conflicts').then(function (o) {
      document.getElementById('conflicts-note').textContent = o.recorded ? '' : '(this hub\'s storage does not record conflicts)';
      fill('conflicts', o.conflicts.map(function (c) {
        var kept = c.winner === 'local' ? c.local : c.incoming;
        var lost = c.winner === 'local' ? c.incoming : c.local;
        return row([time(c.at), c.db, c.table, c.key, c.column, kept.value + ' @' + kept.site, lost.value + ' @' + lost.site, c.source]);
      }), 8, 'no conflicts recorded');
    });
  }

  var feedBody = document.querySelector('#feed tbody');
  var feedEmpty = true;
  function showChange(e) {
    if (feedEmpty) { feedBody.replaceChildren(); feedEmpty = false; }
    var what = e.kind === 'set' ? e.column + ' = ' + e.value : e.kind === 'row' ? 'row inserted' : e.kind === 'delete' ? 'row deleted' : e.value;
    var tr = row([time(e.at), e.db, e.table, e.key, what, e.site, String(e.version)], 'fresh');
    tr.dataset.seq = String(e.seq);
    feedBody.insertBefore(tr, feedBody.firstChild);
    while (feedBody.children.length > MAX_FEED) feedBody.removeChild(feedBody.lastChild);
  }
  fill('feed', [], 7, 'waiting for changes…');
  function follow() {
    var state = document.getElementById('feed-state');
    var source = new EventSource('/ui/api/feed');
    source.onopen = function () { state.textContent = '(connecting…)'; };
    source.addEventListener('ready', function () { state.textContent = '(live)'; });
    source.onmessage = function (m) { showChange(JSON.parse(m.data)); };
    source.onerror = function () {
      state.textContent = '(reconnecting…)';
      // A closed stream may mean the session ended: ask once, which goes to the login page on 401.
      getJson('/ui/api/overview').catch(function () {});
    };
  }

  var charts = {};
  function chart(id, title, series, unit) {
    charts[id] = new Chart(document.getElementById(id), {
      type: 'line',
      data: { labels: [], datasets: series.map(function (s) { return { label: s[1], data: [], borderColor: s[2], backgroundColor: s[2], pointRadius: 0, borderWidth: 2, tension: 0.2, spanGaps: true }; }) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: title } },
        scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true, title: { display: !!unit, text: unit } } },
      },
    });
    charts[id].keys = series.map(function (s) { return s[0]; });
  }
  function metrics() {
    return getJson('/ui/api/metrics').then(function (o) {
      var labels = o.samples.map(function (s) { return time(s.at); });
      Object.keys(charts).forEach(function (id) {
        var c = charts[id];
        c.data.labels = labels;
        c.keys.forEach(function (k, i) { c.data.datasets[i].data = o.samples.map(function (s) { return s[k]; }); });
        c.update('none');
      });
    });
  }

  chart('chart-connections', 'Connections', [['connections', 'sessions', '#3566d6'], ['databases', 'databases in use', '#2a9d8f']], '');
  chart('chart-changes', 'Changes per second', [['inPerSec', 'in (pushed)', '#e76f51'], ['outPerSec', 'out (sent)', '#3566d6']], 'changes/s');
  chart('chart-fanout', 'Fan-out latency', [['fanoutMeanMs', 'mean', '#3566d6'], ['fanoutP95Ms', 'p95 (bucket edge)', '#e9c46a']], 'ms');

  function every(ms, fn) {
    function run() { fn().catch(function (err) { console.warn(err.message); }).then(function () { setTimeout(run, ms); }); }
    run();
  }
  every(2000, overview);
  every(5000, conflicts);
  every(2000, metrics);
  follow();
})();
`;
