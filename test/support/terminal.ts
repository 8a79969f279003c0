/**
 * A program in its own terminal: a tmux session on a private tmux server, driven by keys and read
 * from its screen (the task-manager example's tests).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** Whether tmux is installed. */
export const hasTmux = spawnSync('tmux', ['-V']).status === 0;

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** A TCP port free now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Whether a screen holds every one of `texts`. */
export const shows = (...texts: string[]) => (s: string): boolean => texts.every((t) => s.includes(t));

/** One program in a tmux session named `name` on the tmux server `socket`. */
export class Terminal {
  readonly name: string;
  private readonly socket: string;
  constructor(socket: string, name: string, cwd: string, argv: string[]) {
    this.socket = socket;
    this.name = name;
    // CI unset: Ink renders only the final frame when it thinks it runs in CI. The pane stays after
    // the program exits (with its exit code), so a crash is seen rather than a vanished pane.
    const cmd = `env -u CI ${argv.map(quote).join(' ')}; echo "EXITED $?"; sleep 600`;
    this.tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', '-c', cwd, cmd);
  }
  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.name);
  }
  /** Keys by tmux name (`Enter`, `Tab`…). */
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.name, ...keys);
  }
  /** Literal text. */
  type(text: string): void {
    this.tmux('send-keys', '-t', this.name, '-l', text);
  }
  /** Waits until the screen satisfies `test`; fails with the screen if it doesn't within `ms`. */
  async until(test: (screen: string) => boolean, what: string, ms = 60_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = this.screen();
      if (test(s)) return s;
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out waiting for ${what}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** Adds a task through the task manager's form (title; description and tags optional), and waits for it. */
  async addTask(title: string, more: { description?: string; tags?: string } = {}): Promise<void> {
    this.keys('a');
    await this.until(shows('New task'), 'the form');
    this.type(title);
    if (more.description !== undefined || more.tags !== undefined) {
      this.keys('Tab');
      if (more.description !== undefined) this.type(more.description);
      if (more.tags !== undefined) {
        this.keys('Tab', 'Tab');
        this.type(more.tags);
        await this.until(shows(more.tags), 'the tags typed');
      }
    }
    this.keys('Enter');
    await this.until(shows(title), `the new task ${title}`);
  }
  /** The task list: the lines with a status mark, selection marker dropped. */
  list(): string[] {
    return this.screen().split('\n').filter((l) => /^[ ›] \[[ ~x]\]/.test(l)).map((l) => l.slice(2).trimEnd());
  }
}

/** Ends every session of the tmux server `socket` (and the programs in them). */
export function killTmuxServer(socket: string): void {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
}

/**
 * The task-manager tests' offline scenario, once `bob` is offline and both show "Buy milk": bob moves
 * it to doing and adds "Offline task"; ann raises its priority and adds "From ann"; neither sees the
 * other's edits meanwhile.
 */
export async function editWhileApart(ann: Terminal, bob: Terminal): Promise<void> {
  bob.keys('s'); // todo → doing
  await bob.until(shows('[~] !!  Buy milk'), "bob's status edit");
  await bob.addTask('Offline task');
  ann.keys('p'); // medium → high
  await ann.until(shows('[ ] !!! Buy milk'), "ann's priority edit");
  await ann.addTask('From ann');
  if (ann.screen().includes('Offline task') || bob.screen().includes('From ann')) throw new Error('an edit passed while bob was offline');
}
