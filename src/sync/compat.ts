/** Whether changes from one CRR schema fit another: decided by the gate (kept as a path for old imports). */
import type { Misfit } from './gate.ts';

export { changeFit, schemaMismatch } from './gate.ts';

/** A misfit as the object of "sends changes for …": `table T, which is not a CRR here` / `column T.c, which this database lacks`. */
export function misfitObject(m: Misfit): string {
  return m.column === undefined ? `table ${m.table}, which is not a CRR here` : `column ${m.table}.${m.column}, which this database lacks`;
}
