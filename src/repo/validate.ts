/**
 * Reading ddcp's own JSON files (config.json, listen.json) through a valibot schema: a file of the
 * wrong shape is refused with one line naming the file and the field — never handed on to fail
 * later as `x.startsWith is not a function` or, worse, be half-understood (a string read as a list
 * of its characters).
 */
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { RepositoryError } from './errors.ts';

/** A field's path as it would be written in JavaScript: `remotes.origin.location`, `allow[1]`, `peers["12D3…"]`. */
export function fieldPath(keys: readonly unknown[]): string {
  let out = '';
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z_$][\w$]*$/.test(k)) out += out === '' ? k : `.${k}`;
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out;
}

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  Array: 'a list',
  Object: 'an object',
};

/** What an issue says, in words: `must be a string (got 5)`. */
function issueText(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === 'schema' && issue.received === 'undefined') return 'missing';
  if (issue.kind === 'schema' && issue.expected !== null) return `must be ${NOUNS[issue.expected] ?? issue.expected} (got ${issue.received})`;
  return issue.message;
}

/** The one-line error for the first issue of a failed parse of `file`. */
export function schemaError(file: string, issues: readonly v.BaseIssue<unknown>[]): RepositoryError {
  const issue = issues[0]!;
  const keys = (issue.path ?? []).map((p) => p.key);
  const field = fieldPath(keys);
  return new RepositoryError(`${file}: ${field === '' ? '' : `${field}: `}${issueText(issue)}`);
}

/** Parses `value` (the JSON of `file`) with `schema`; throws {@link RepositoryError} naming the file and the field. */
export function parseWith<S extends v.GenericSchema>(file: string, schema: S, value: unknown): v.InferOutput<S> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RepositoryError(`${file}: must be a JSON object`);
  const r = v.safeParse(schema, value, { abortEarly: true });
  if (!r.success) throw schemaError(file, r.issues);
  return r.output;
}

/** Reads and parses a JSON file; throws {@link RepositoryError} naming the file and why it can't be read. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new RepositoryError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new RepositoryError(`${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}
