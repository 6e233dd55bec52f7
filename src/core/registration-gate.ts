/** The gate a re-registration holds while it writes this node's snapshot (membership.ts). */
/**
 * Holds back this node's own backend joins and leaves while a re-registration writes its
 * snapshot, so a change made after the snapshot lands after it (a +1 after the +n, a
 * leave after the re-join): the counts and members end up right without per-entry locks.
 */
export class RegistrationGate {
  private held: Promise<void> | null = null;

  /** Resolves at once, or when the running re-registration finished. Never rejects. */
  pass(): Promise<void> | null {
    return this.held;
  }

  /** Holds the gate; returns the function that releases it. */
  hold(): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.held = held;
    return () => {
      if (this.held === held) this.held = null;
      release();
    };
  }
}
