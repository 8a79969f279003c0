/**
 * The terminal interface (Ink + React, written with `React.createElement` so the file runs as plain
 * TypeScript): a list of tasks with status indicators, a form to add and edit them, and keys for
 * everything else. It re-reads the list on every document event, local or arrived by sync.
 */
import React, { useEffect, useReducer, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, type Key } from 'ink';
import type { Documents } from '../../src/docs/index.ts';
import type { Sync, SyncState } from './sync.ts';
import { COLLECTION, PRIORITIES, STATUSES, createTask, deleteTask, editTask, listTasks, nextOf, parseTags, type Priority, type Task } from './tasks.ts';

const h = React.createElement;

const STATUS_MARK: Record<Task['status'], { mark: string; color: string }> = {
  todo: { mark: '[ ]', color: 'white' },
  doing: { mark: '[~]', color: 'yellow' },
  done: { mark: '[x]', color: 'green' },
};
const PRIORITY_MARK: Record<Priority, { mark: string; color: string }> = {
  low: { mark: '!  ', color: 'gray' },
  medium: { mark: '!! ', color: 'cyan' },
  high: { mark: '!!!', color: 'red' },
};

interface Form {
  /** The task edited; undefined for a new one. */
  task?: Task;
  title: string;
  description: string;
  priority: Priority;
  tags: string;
  focus: number;
}
const FORM_FIELDS = ['title', 'description', 'priority', 'tags'] as const;

export interface AppProps {
  docs: Documents;
  sync: Sync;
  dir: string;
  /** Called once the app has quit and sync is stopped. */
  onQuit: () => void;
}

/** Printable text of a key press (pasted text comes as one string); control characters dropped. */
// eslint-disable-next-line no-control-regex
const printable = (input: string): string => input.replace(/[\x00-\x1f\x7f]/g, '');

export function App({ docs, sync, dir, onQuit }: AppProps): React.ReactElement {
  const { exit } = useApp();
  // Key presses can arrive faster than React renders (typed or pasted text, a test driving the
  // terminal): the handler reads and writes this one state object, never a stale render's copy.
  const ui = useRef<{ tasks: Task[]; selected: number; form: Form | undefined; confirm: boolean; changed: string[] }>({ tasks: listTasks(docs), selected: 0, form: undefined, confirm: false, changed: [] });
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [message, setMessage] = useState('');
  const [net, setNet] = useState<SyncState>(sync.state);
  const setForm = (form: Form | undefined): void => {
    ui.current.form = form;
    rerender();
  };
  const setSelected = (i: number): void => {
    ui.current.selected = i;
    rerender();
  };
  const setConfirm = (on: boolean): void => {
    ui.current.confirm = on;
    rerender();
  };

  useEffect(() => {
    const offDocs = docs.on('*', (e) => {
      ui.current.tasks = listTasks(docs);
      if (e.type !== 'sync' && e.type !== 'conflict' && e.local) ui.current.changed.push(e.id);
      rerender();
      if (e.type === 'conflict') setMessage(`conflict on ${e.path}: kept ${JSON.stringify(e.kept)}, yours was ${JSON.stringify(e.lost)}`);
      else if (e.type !== 'sync' && !e.local) setMessage(`${e.type} by ${e.site.slice(0, 8)}: ${e.id.slice(0, 8)}`);
    }, {});
    const onState = (s: SyncState): void => setNet(s);
    sync.on('state', onState);
    return () => {
      offDocs();
      sync.off('state', onState);
    };
  }, [docs, sync]);

  const attempt = (what: () => void): void => {
    try {
      what();
    } catch (err) {
      setMessage(`error: ${(err as Error).message}`);
    }
  };

  // Keys typed fast (or pasted) come as one string: handled one by one, as if typed slowly.
  useInput((input, key) => {
    if (input.length <= 1 || key.ctrl || key.meta || key.escape) return handle(input, key);
    for (const c of input) handle(c, { ...key, return: c === '\r' || c === '\n', tab: c === '\t', backspace: c === '\x7f' || c === '\b' });
  });

  function handle(input: string, key: Key): void {
    const { tasks, selected, form, confirm } = ui.current;
    const current = tasks[Math.min(selected, tasks.length - 1)];
    if (form) {
      const field = FORM_FIELDS[form.focus]!;
      if (key.escape) return setForm(undefined);
      if (key.return) {
        attempt(() => {
          const fields = { title: form.title, description: form.description, priority: form.priority, tags: parseTags(form.tags) };
          if (form.task) editTask(docs, form.task, { ...fields, title: fields.title.trim() || form.task.title });
          else createTask(docs, fields);
          setForm(undefined);
        });
        return;
      }
      if (key.tab || key.downArrow) return setForm({ ...form, focus: (form.focus + (key.shift ? FORM_FIELDS.length - 1 : 1)) % FORM_FIELDS.length });
      if (key.upArrow) return setForm({ ...form, focus: (form.focus + FORM_FIELDS.length - 1) % FORM_FIELDS.length });
      if (field === 'priority') {
        if (key.leftArrow) setForm({ ...form, priority: PRIORITIES[(PRIORITIES.indexOf(form.priority) + PRIORITIES.length - 1) % PRIORITIES.length]! });
        else if (key.rightArrow || input === ' ') setForm({ ...form, priority: nextOf(PRIORITIES, form.priority) });
        return;
      }
      if (key.backspace || key.delete) return setForm({ ...form, [field]: form[field].slice(0, -1) });
      const text = printable(input);
      if (text && !key.ctrl && !key.meta) setForm({ ...form, [field]: form[field] + text });
      return;
    }
    if (confirm) {
      setConfirm(false);
      if (input === 'y' && current) attempt(() => deleteTask(docs, current));
      return;
    }
    if (key.upArrow || input === 'k') setSelected(Math.max(0, Math.min(selected, tasks.length - 1) - 1));
    else if (key.downArrow || input === 'j') setSelected(Math.min(tasks.length - 1, selected + 1));
    else if (input === 'a') setForm({ title: '', description: '', priority: 'medium', tags: '', focus: 0 });
    else if ((input === 'e' || key.return) && current) setForm({ task: current, title: current.title, description: current.description, priority: current.priority, tags: current.tags.join(', '), focus: 0 });
    else if ((input === ' ' || input === 'x') && current) attempt(() => editTask(docs, current, { status: current.status === 'done' ? 'todo' : 'done' }));
    else if (input === 's' && current) attempt(() => editTask(docs, current, { status: nextOf(STATUSES, current.status) }));
    else if (input === 'p' && current) attempt(() => editTask(docs, current, { priority: nextOf(PRIORITIES, current.priority) }));
    else if (input === 'd' && current) setConfirm(true);
    else if (input === 'u') {
      // Undoes this session's last change, whichever task it was (a deleted one comes back).
      const id = ui.current.changed.pop();
      if (id === undefined) return setMessage('nothing to undo');
      attempt(() => {
        const r = docs.undo(COLLECTION, id);
        ui.current.changed.pop(); // the undo itself is not undone by the next u
        setMessage(r.skipped.length ? `undone, except ${r.skipped.join(', ')} (changed since)` : 'undone');
      });
    } else if (input === 'o') void sync.toggle();
    else if (input === 'q' || (key.ctrl && input === 'c')) {
      void sync.close().then(() => {
        exit();
        onQuit();
      });
    }
  }

  const { tasks, selected, form, confirm } = ui.current;
  const current = tasks[Math.min(selected, tasks.length - 1)];
  const header = h(Box, { gap: 1 },
    h(Text, { bold: true }, `ddcp tasks · ${dir}`),
    net.online ? h(Text, { color: 'green' }, `● online · ${net.peers} peer${net.peers === 1 ? '' : 's'}`) : h(Text, { color: 'gray' }, '○ offline'),
    // each remote's connection state, from the server's 'connection' events
    ...net.remotes.map((r) => h(Text, { key: r.remote, color: r.state === 'online' ? 'green' : r.state === 'reconnecting' ? 'yellow' : 'gray' }, `${r.remote}: ${r.state}`)));
  const address = net.addresses.find((a) => a.includes('/tcp/')) ?? net.addresses[0];
  const list = tasks.length === 0
    ? h(Text, { dimColor: true }, 'no tasks yet — press a to add one')
    : tasks.map((t, i) => {
      const sel = i === Math.min(selected, tasks.length - 1);
      return h(Box, { key: t.id, gap: 1 },
        h(Text, { color: 'blue' }, sel ? '›' : ' '),
        h(Text, { color: STATUS_MARK[t.status].color }, STATUS_MARK[t.status].mark),
        h(Text, { color: PRIORITY_MARK[t.priority].color }, PRIORITY_MARK[t.priority].mark),
        h(Text, { bold: sel, strikethrough: t.status === 'done' }, t.title),
        t.tags.length ? h(Text, { color: 'magenta' }, t.tags.map((g) => `#${g}`).join(' ')) : null);
    });
  const detail = current && !form ? h(Text, { dimColor: true }, `${current.status} · ${current.priority} · ${current.description || '(no description)'}`) : null;
  const formView = form ? h(Box, { flexDirection: 'column', borderStyle: 'round', paddingX: 1 },
    h(Text, { bold: true }, form.task ? 'Edit task' : 'New task'),
    ...FORM_FIELDS.map((f, i) => h(Box, { key: f, gap: 1 },
      h(Text, { color: i === form.focus ? 'blue' : 'gray' }, `${i === form.focus ? '›' : ' '} ${f.padEnd(11)}`),
      h(Text, {}, f === 'priority' ? `‹ ${form.priority} ›` : `${form[f]}${i === form.focus ? '▏' : ''}`))),
    h(Text, { dimColor: true }, 'tab next field · ←/→ priority · enter save · esc cancel')) : null;
  const help = confirm
    ? h(Text, { color: 'red' }, `delete "${current?.title}"? y to confirm, any other key to keep it`)
    : h(Text, { dimColor: true }, 'a add · e edit · space done · s status · p priority · d delete · u undo · o online/offline · q quit');
  return h(Box, { flexDirection: 'column' },
    header,
    h(Text, { dimColor: true }, address ? `address: ${address}` : 'not syncing (o: go online)'),
    h(Box, { flexDirection: 'column', marginY: 1 }, list),
    detail,
    formView,
    help,
    h(Text, { color: 'yellow' }, message || net.last || ' '));
}
