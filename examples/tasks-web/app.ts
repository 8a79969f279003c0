/**
 * The task manager as a web page: the same documents as the terminal example (examples/tasks), on a
 * ddcp/browser replica that lives in the page (OPFS where there is one) and follows a hub database
 * live. Plain DOM — all text goes in through textContent — and the model from ../tasks/tasks.ts.
 *
 * The hub comes from the page's URL (`?hub=ws://HOST:PORT/DB&token=USER_TOKEN`, optional
 * `&name=REPLICA`) or from the Hub form.
 */
import { openReplica, type ConnectionState, type Replica } from '../../src/browser/index.ts';
import { COLLECTION, PRIORITIES, STATUSES, newTaskContent, nextOf, parseTags, sortTasks, taskOf, taskPatch, type Priority, type Status, type Task } from '../tasks/tasks.ts';

// The DOM as far as this page uses it (the project type-checks without the DOM library).
interface El {
  textContent: string | null;
  className: string;
  hidden: boolean;
  value: string;
  disabled: boolean;
  append(...nodes: (El | string)[]): void;
  replaceChildren(...nodes: (El | string)[]): void;
  addEventListener(type: string, listener: (ev: { preventDefault(): void }) => void): void;
  querySelectorAll(selector: string): ArrayLike<El>;
  setAttribute(name: string, value: string): void;
}
interface Doc {
  getElementById(id: string): El | null;
  createElement(tag: string): El;
  body: El;
}
const page = globalThis as unknown as { document: Doc; location: { search: string; href: string }; history: { replaceState(s: unknown, t: string, url: string): void } };
const doc = page.document;

function $(id: string): El {
  const el = doc.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}

function el(tag: string, className: string, text?: string): El {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The terminal's marks, so a task reads the same in both. */
const STATUS_MARK: Record<Status, string> = { todo: '[ ]', doing: '[~]', done: '[x]' };
const PRIORITY_MARK: Record<Priority, string> = { low: '!  ', medium: '!! ', high: '!!!' };

const params = new URLSearchParams(page.location.search);
const replica: Replica = await openReplica({ name: params.get('name') || 'tasks' });
const docs = replica.docs;

let tasks: Task[] = [];
/** The task the form edits (undefined: a new one). */
let editing: Task | undefined;

function showError(err: unknown): void {
  $('error').textContent = err ? (err instanceof Error ? err.message : String(err)) : '';
}

/** Runs a user's action, showing its error instead of throwing it. */
async function attempt(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    showError(undefined);
  } catch (err) {
    showError(err);
  }
}

function taskItem(t: Task): El {
  const li = el('li', `task status-${t.status} prio-${t.priority}`);
  const line = el('div', 'line');
  line.append(el('span', 'mark', STATUS_MARK[t.status]), ' ', el('span', 'prio', PRIORITY_MARK[t.priority]), ' ', el('span', 'title', t.title));
  if (t.tags.length) line.append(' ', el('span', 'tags', t.tags.map((g) => `#${g}`).join(' ')));
  li.append(line);
  if (t.description) li.append(el('div', 'desc', t.description));
  const actions = el('div', 'actions');
  const button = (label: string, name: string, run: () => Promise<unknown>): void => {
    const b = el('button', name, label);
    b.setAttribute('type', 'button');
    b.addEventListener('click', () => void attempt(run));
    actions.append(b);
  };
  button(t.status === 'done' ? 'reopen' : 'done', 'toggle-done', () => edit(t, { status: t.status === 'done' ? 'todo' : 'done' }));
  button('next status', 'next-status', () => edit(t, { status: nextOf(STATUSES, t.status) }));
  button('next priority', 'next-priority', () => edit(t, { priority: nextOf(PRIORITIES, t.priority) }));
  button('edit', 'edit', async () => startEditing(t));
  button('delete', 'delete', () => docs.delete(COLLECTION, t.id));
  li.append(actions);
  return li;
}

/** Writes only the fields that changed (the terminal's rule: concurrent edits of other fields survive). */
async function edit(t: Task, fields: Partial<Omit<Task, 'id' | 'created'>>): Promise<void> {
  const ops = taskPatch(t, fields);
  if (ops.length) await docs.update(COLLECTION, t.id, ops);
}

let rendering: Promise<void> | undefined;
let again = false;
/** Reads the list and redraws it; changes during a redraw cause one more. */
function render(): Promise<void> {
  if (rendering) {
    again = true;
    return rendering;
  }
  rendering = (async () => {
    do {
      again = false;
      tasks = sortTasks((await docs.list(COLLECTION)).map(taskOf));
      const list = $('tasks');
      list.replaceChildren(...(tasks.length ? tasks.map(taskItem) : [el('li', 'empty', 'no tasks yet — add one above')]));
    } while (again);
  })().finally(() => (rendering = undefined));
  return rendering;
}

function form(): { title: El; description: El; priority: El; status: El; tags: El } {
  return { title: $('title'), description: $('description'), priority: $('priority'), status: $('status'), tags: $('tags') };
}

function startEditing(t: Task | undefined): void {
  editing = t;
  const f = form();
  f.title.value = t?.title ?? '';
  f.description.value = t?.description ?? '';
  f.priority.value = t?.priority ?? 'medium';
  f.status.value = t?.status ?? 'todo';
  f.tags.value = t ? t.tags.join(', ') : '';
  $('form-title').textContent = t ? `Edit task` : 'New task';
  $('save').textContent = t ? 'Save' : 'Add';
  for (const e of Array.from(doc.body.querySelectorAll('.edit-only'))) e.hidden = !t;
}

$('task-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void attempt(async () => {
    const f = form();
    const fields = { title: f.title.value, description: f.description.value, priority: f.priority.value as Priority, tags: parseTags(f.tags.value) };
    if (editing) {
      // The task as it is now (another replica may have changed it since the form opened).
      const current = tasks.find((t) => t.id === editing!.id) ?? editing;
      await edit(current, { ...fields, title: fields.title.trim() || current.title, status: f.status.value as Status });
    } else {
      await docs.create(COLLECTION, newTaskContent(fields));
    }
    startEditing(undefined);
  });
});
$('cancel').addEventListener('click', () => startEditing(undefined));

function showState(state: ConnectionState, error?: string): void {
  const badge = $('state');
  badge.textContent = state;
  badge.className = `state ${state}`;
  // Why it is not online (a refused token, an unreachable hub), until it is.
  $('hub-error').textContent = state === 'online' ? '' : (error ?? $('hub-error').textContent ?? '');
}

async function connect(url: string, token: string): Promise<void> {
  await replica.connect({ url, ...(token ? { token } : {}) });
}

$('hub-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void attempt(async () => {
    const url = $('hub-url').value.trim();
    // The hub goes in the page's address (bookmarkable); the token stays out of it.
    const next = new URL(page.location.href);
    next.searchParams.set('hub', url);
    next.searchParams.delete('token');
    page.history.replaceState(null, '', next.toString());
    await connect(url, $('hub-token').value.trim());
  });
});
$('disconnect').addEventListener('click', () => void attempt(() => replica.disconnect()));

replica.onChange(() => void render().catch(showError));
replica.onState(showState);
showState(replica.state);
startEditing(undefined);
await render();
const hub = params.get('hub');
if (hub) {
  $('hub-url').value = hub;
  $('hub-token').value = params.get('token') ?? '';
  await attempt(() => connect(hub, params.get('token') ?? ''));
}
doc.body.setAttribute('data-ready', 'true');
