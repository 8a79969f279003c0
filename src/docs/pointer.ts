/** JSON Pointers (RFC 6901): parsing to tokens and back. */
import { PatchError } from './errors.ts';

/** The tokens of a pointer (`''` is the whole document: no tokens). Throws {@link PatchError} if malformed. */
export function parsePointer(pointer: string, index?: number): string[] {
  if (typeof pointer !== 'string') throw new PatchError('path must be a string', index);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`path '${pointer}' must start with '/'`, index);
  // No escapes (the common case): the tokens are the pieces as they are.
  if (!pointer.includes('~')) return pointer.slice(1).split('/');
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (!t.includes('~')) return t;
      if (/~[^01]|~$/.test(t)) throw new PatchError(`path '${pointer}' has a bad escape`, index);
      return t.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

/** One token escaped for a pointer. */
export function escapeToken(token: string): string {
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The pointer of `tokens`. */
export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => '/' + escapeToken(t)).join('');
}

/** The pointer of the parent of `pointer` (`''` for a top-level member). */
export function parentPath(pointer: string): string {
  return pointer.slice(0, pointer.lastIndexOf('/'));
}
