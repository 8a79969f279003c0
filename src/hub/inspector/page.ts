/**
 * The inspector's HTML and CSS (static: no data and no secret is ever written into them — the page
 * fetches its data from the JSON endpoints with its session cookie, and renders it with
 * `textContent`). The login page posts the admin token to /ui/login.
 */

/** The Content-Security-Policy of every /ui response: only this origin's scripts, styles and connections. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const head = (title: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/ui/style.css"></head>`;

/** The login form; `failed` adds the one generic refusal line. */
export function loginPage(failed: boolean): string {
  return `${head('ddcp hub inspector: log in')}
<body class="login"><main>
<h1>ddcp hub inspector</h1>
<form method="post" action="/ui/login" autocomplete="off">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" required autofocus placeholder="ddcpa_…" spellcheck="false">
<button type="submit">Log in</button>
${failed ? '<p class="error" id="login-error">Login failed.</p>' : ''}
</form>
<p class="hint">Make a token on the hub's machine: <code>ddcp hub admin-token create --name NAME</code></p>
</main></body></html>`;
}

/** The inspector itself: empty sections app.js fills. */
export function inspectorPage(): string {
  return `${head('ddcp hub inspector')}
<body>
<header><h1>ddcp hub inspector</h1><span id="process"></span>
<form method="post" action="/ui/logout"><button type="submit" id="logout">Log out</button></form></header>
<main>
<section id="charts"><h2>Metrics <small>(last 5 minutes, sampled every second)</small></h2>
<div class="charts"><div class="chart"><canvas id="chart-connections"></canvas></div>
<div class="chart"><canvas id="chart-changes"></canvas></div>
<div class="chart"><canvas id="chart-fanout"></canvas></div></div></section>
<section><h2>Databases <small id="databases-note"></small></h2>
<table id="databases"><thead><tr><th>database</th><th>app</th><th>owner</th><th>shared with</th><th>tables</th><th>clients</th></tr></thead><tbody></tbody></table></section>
<section><h2>Users</h2>
<table id="users"><thead><tr><th>app</th><th>user</th><th>owns</th><th>shared</th><th>connected clients</th></tr></thead><tbody></tbody></table></section>
<section><h2>Connected clients <small>(this hub process)</small></h2>
<table id="clients"><thead><tr><th>user</th><th>app</th><th>database</th><th>auth</th><th>address</th><th>since</th></tr></thead><tbody></tbody></table></section>
<section><h2>Live changes <small id="feed-state"></small></h2>
<table id="feed"><thead><tr><th>time</th><th>database</th><th>table</th><th>key</th><th>change</th><th>site</th><th>version</th></tr></thead><tbody></tbody></table></section>
<section><h2>Recent conflicts <small id="conflicts-note"></small></h2>
<table id="conflicts"><thead><tr><th>time</th><th>database</th><th>table</th><th>key</th><th>column</th><th>kept</th><th>lost</th><th>source</th></tr></thead><tbody></tbody></table></section>
</main>
<script src="/ui/chart.js"></script><script src="/ui/app.js"></script>
</body></html>`;
}

export const STYLE = `
:root { color-scheme: light; font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
body { margin: 0; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
header span { opacity: .7; flex: 1; }
main { padding: 1rem 1.2rem; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: .6rem 1rem 1rem; margin-bottom: 1rem; }
h2 { font-size: 1rem; margin: .3rem 0 .6rem; }
h2 small { font-weight: normal; color: #667; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eef0f3; vertical-align: top; word-break: break-word; }
th { font-weight: 600; color: #445; }
td.empty { color: #889; font-style: italic; }
code, td.mono { font-family: ui-monospace, monospace; font-size: 12.5px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
.chart { position: relative; height: 200px; }
tr.fresh { animation: fresh 2s ease-out; }
@keyframes fresh { from { background: #fff3bf; } to { background: transparent; } }
.login main { max-width: 26rem; margin: 12vh auto; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 1.5rem; }
.login h1 { font-size: 1.2rem; margin-top: 0; }
.login form { display: grid; gap: .5rem; }
.login input { font: inherit; padding: .4rem; }
button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
.error { color: #b00020; }
.hint { color: #667; font-size: 12.5px; }
`;
