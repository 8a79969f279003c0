/** A peer on the network as a source of changes: one sync session over a libp2p stream. */
import type { Change } from '../engine/change.ts';
import type { TableInfo } from '../engine/schema.ts';
import type { Batch } from '../sync/batches.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { openSession } from '../sync/session.ts';
import type { ChangeSource, SourceRead, SourceRequest } from './source.ts';

/** The sync protocol's libp2p protocol id. */
export const SYNC_PROTOCOL = '/ddcp/sync/1.0.0';

/** Opens a channel to a peer; a transport supplies it (libp2p, or in-memory in tests). */
export type Dial = (signal?: AbortSignal) => Promise<FrameChannel>;

export class NetworkSource implements ChangeSource {
  private readonly dial: Dial;
  private readonly ours: { siteId: Uint8Array; schema: TableInfo[] };
  private channel: FrameChannel | undefined;
  private finished = false;

  constructor(dial: Dial, ours: { siteId: Uint8Array; schema: TableInfo[] }) {
    this.dial = dial;
    this.ours = ours;
  }

  async open(request: SourceRequest): Promise<SourceRead> {
    this.channel = await this.dial();
    // The peer's site id is known only after its welcome: start from what we hold of the one we expect.
    const since = request.expectedSite ? request.since(request.expectedSite) : 0;
    const session = await openSession(this.channel, { siteId: request.exceptSite, schema: this.ours.schema, since, follow: false });
    const self = this;
    async function* batches(): AsyncGenerator<Batch> {
      yield* toBatches(session.messages);
      self.finished = true;
    }
    return { siteId: session.welcome.siteId, schema: session.welcome.schema, batches: batches(), span: { since, version: session.welcome.version } };
  }

  close(): void {
    // A finished session closed itself gracefully; only an abandoned one is torn down.
    if (!this.finished) this.channel?.abort(new Error('fetch abandoned'));
  }
}

/** Session messages as batches; caught-up becomes the final, empty, complete batch. */
export async function* toBatches(messages: AsyncIterable<{ type: 'batch'; version: number; complete: boolean; changes: Change[] } | { type: 'caught-up'; version: number }>): AsyncGenerator<Batch> {
  for await (const m of messages) {
    if (m.type === 'batch') yield { changes: m.changes, version: m.version, complete: m.complete };
    else {
      yield { changes: [], version: m.version, complete: true };
      return;
    }
  }
}
