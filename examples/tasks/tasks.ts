/**
 * The task manager's model: tasks are JSON documents in the `tasks` collection of a repository
 * (`ddcp/docs`), so they merge field by field and sync like any other table. Pure helpers plus thin
 * wrappers over `Documents`; nothing here knows about the terminal or the network.
 */
import type { Document, Documents, JsonPatchOperation } from '../../src/docs/index.ts';

export const COLLECTION = 'tasks';
export const STATUSES = ['todo', 'doing', 'done'] as const;
export const PRIORITIES = ['low', 'medium', 'high'] as const;
export type Status = (typeof STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];

export interface Task {
  id: string;
  title: string;
  description: string;
  status: Status;
  priority: Priority;
  tags: string[];
  /** When it was created (ms): the list's order among equals, the same on every replica. */
  created: number;
}

/** What a form edits. */
export interface TaskFields {
  title: string;
  description: string;
  priority: Priority;
  tags: string[];
}

const pick = <T extends string>(all: readonly T[], v: unknown, fallback: T): T => (all.includes(v as T) ? (v as T) : fallback);

/** A task from a document, tolerating documents written by other tools (`ddcp doc`) with fields missing. */
export function taskOf(doc: Document): Task {
  const c = doc.content;
  return {
    id: doc.id,
    title: typeof c.title === 'string' ? c.title : '(untitled)',
    description: typeof c.description === 'string' ? c.description : '',
    status: pick(STATUSES, c.status, 'todo'),
    priority: pick(PRIORITIES, c.priority, 'medium'),
    tags: Array.isArray(c.tags) ? c.tags.filter((t): t is string => typeof t === 'string') : [],
    created: typeof c.created === 'number' ? c.created : 0,
  };
}

/** Open work first, then by priority (high first), then oldest first: the same order on every replica. */
export function sortTasks(tasks: Task[]): Task[] {
  const rank = (t: Task): number => (t.status === 'done' ? 1 : 0);
  const prio = (t: Task): number => PRIORITIES.indexOf(t.priority);
  return [...tasks].sort((a, b) => rank(a) - rank(b) || prio(b) - prio(a) || a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Tags typed as `a, b c` → `['a', 'b', 'c']` (no empties, no repeats, in order). */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.replace(/^#/, '')).filter(Boolean))];
}

export const nextOf = <T>(all: readonly T[], v: T): T => all[(all.indexOf(v) + 1) % all.length]!;

export function listTasks(docs: Documents): Task[] {
  return sortTasks(docs.list(COLLECTION).map(taskOf));
}

/**
 * A new task's document content (status todo, stamped now), checked: a title is required. Shared by
 * the terminal (synchronous `Documents`) and the web page (ddcp/browser's asynchronous documents).
 */
export function newTaskContent(fields: TaskFields): Omit<Task, 'id'> {
  const title = fields.title.trim();
  if (!title) throw new Error('a task needs a title');
  return { ...fields, title, status: 'todo', created: Date.now() };
}

/**
 * The patch that writes only the fields that changed, each as its own operation, so a concurrent
 * edit of another field on another replica survives the merge. Empty when nothing changed.
 */
export function taskPatch(task: Task, fields: Partial<Omit<Task, 'id' | 'created'>>): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  for (const [key, value] of Object.entries(fields) as [keyof Task, Task[keyof Task]][]) {
    if (JSON.stringify(task[key]) !== JSON.stringify(value)) ops.push({ op: 'add', path: `/${key}`, value });
  }
  return ops;
}

export function createTask(docs: Documents, fields: TaskFields): Task {
  return taskOf(docs.create(COLLECTION, newTaskContent(fields)));
}

/** Writes only the fields that changed (see {@link taskPatch}). */
export function editTask(docs: Documents, task: Task, fields: Partial<Omit<Task, 'id' | 'created'>>): void {
  const ops = taskPatch(task, fields);
  if (ops.length) docs.update(COLLECTION, task.id, ops);
}

export function deleteTask(docs: Documents, task: Task): void {
  docs.delete(COLLECTION, task.id);
}
