/**
 * Hidden classes kept for the life of the process. V8 gives an instance of a class its fields through
 * map transitions (hidden classes) that it holds only weakly: once no instance of a class is left — and
 * every object a merge makes is dropped when the merge ends — a full collection frees those maps, and
 * with them every optimized function that was built for them (`node --trace-deopt`: "marking dependent
 * code … embedded weak objects cleared" for the merge's loops after every collection). The next merge
 * then ran in V8's lower tiers until they were optimized again, ~10% of a large merge
 * (bench/merge-batch-ab.ts; bench/ddcp.ts collects before every timed merge, a long-running process
 * from time to time). A read's streams, a feed's batch encoding and `ddcp changes`' line writer are
 * made and dropped per read alike (bench/read-gc-ab.ts). One instance of each such class, kept here,
 * keeps its maps and that code. It lives in base/ because classes of every layer need it.
 */

const kept: object[] = [];

/**
 * Keeps `exemplars` (one instance of each class a module's hot path makes and drops) alive for good.
 * An exemplar need not be usable: it holds its class's fields, which is all that keeps the maps.
 */
export function keepHiddenClasses(...exemplars: object[]): void {
  kept.push(...exemplars);
}
