/** Whether changes from one CRR schema fit another: decided by the gate (kept as a path for old imports). */
export { schemaMismatch } from './gate.ts';
