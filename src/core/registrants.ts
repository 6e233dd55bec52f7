/**
 * Everything this node stores under its registration id (`{nodeId}#{random}`, see
 * membership.ts), and how it is written again when the registration changes.
 *
 * Ownership: the core's own modules (subscriptions, presence, signed-in users) and the
 * registrants added here (bot sessions) each own their entries; this module only orders
 * the re-registration. While it writes, `gate` is held, so joins and leaves on this node
 * wait and cannot interleave with the rewrite.
 */
import { RegistrationGate } from './registration-gate.ts';
import type { Departure } from './presence.ts';

/** A module outside the core that stores entries under the registration id (see `Core.addRegistrant`). */
export interface Registrant {
  /** Called synchronously when the registration id changed: snapshot, and return the step that writes the entries again. */
  reregister(): () => Promise<void>;
  /** Of the departures of a removed registration, handles its own and returns the rest. */
  takeDepartures(left: readonly Departure[]): Departure[];
  /** Runs after each successful heartbeat (a check of what this node holds). Never rejects. */
  afterHeartbeat?(): Promise<void>;
}

/** A core module whose entries are written again under a new registration id. */
export interface Reregistering {
  reregister(): () => Promise<void>;
}

export class Registrants {
  /** Held while a re-registration writes this node's entries. */
  readonly gate = new RegistrationGate();
  private readonly added = new Set<Registrant>();

  constructor(
    /** The core's own modules, read when a re-registration starts (they are built after this). */
    private readonly own: () => readonly Reregistering[],
    /** The streams this node has subscribers in, read when a re-registration starts. */
    private readonly streams: () => readonly string[],
    /** Called with those streams once their entries were written again (their totals changed). */
    private readonly countsChanged: (streams: readonly string[]) => void,
  ) {}

  /** Adds a registrant; returns the function that removes it. */
  add(registrant: Registrant): () => void {
    this.added.add(registrant);
    return () => this.added.delete(registrant);
  }

  /** Of a removed registration's departures, each added registrant takes its own; returns the rest. */
  takeDepartures(left: readonly Departure[]): readonly Departure[] {
    let rest = left;
    for (const registrant of this.added) rest = registrant.takeDepartures(rest);
    return rest;
  }

  /** After a successful heartbeat: each added registrant's own check, one after the other. */
  async afterHeartbeat(): Promise<void> {
    for (const registrant of this.added) await registrant.afterHeartbeat?.();
  }

  /**
   * Membership's `reregister`: snapshots every module now, and returns the step that
   * writes all their entries again, holding the gate meanwhile. The step fails with the
   * first module's failure, after every module has tried.
   */
  prepare(): () => Promise<void> {
    const release = this.gate.hold();
    const streams = this.streams();
    const steps = [...this.own(), ...this.added].map((module) => module.reregister());
    return async () => {
      try {
        const results = await Promise.allSettled(steps.map((step) => step()));
        const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      } finally {
        release();
      }
      this.countsChanged(streams);
    };
  }
}
