/**
 * Chooses how a claim starts, from what recent claims found. Both ways are
 * correct, because the unique index decides every claim; they differ only in
 * round trips:
 *   insert first: 1 round trip for a new key, 2 for an existing one (the
 *                 INSERT fails with a duplicate key, then the row is read);
 *   read first:   1 for an existing key, 2 for a new one (read, then INSERT).
 * Most traffic is first calls, so claims start with the INSERT; while most
 * recent claims find their key already there (a burst of retries, e.g. after
 * an outage), they start with the read. The statistic only picks the path,
 * never an outcome.
 */
export class ClaimPath {
  /** Exponentially weighted share of recent claims that found an existing row. */
  private existingShare = 0;

  /** Weight of one claim in the moving share: about the last 20 claims count. */
  static readonly WEIGHT = 0.05;

  private reading = false;

  /** Switch to reading first above this share, back below the lower one (hysteresis, so it does not flap). */
  static readonly READ_FIRST_ABOVE = 0.5;
  static readonly INSERT_FIRST_BELOW = 0.2;

  readFirst(): boolean {
    return this.reading;
  }

  record(foundExisting: boolean): void {
    this.existingShare += ClaimPath.WEIGHT * ((foundExisting ? 1 : 0) - this.existingShare);
    if (this.existingShare > ClaimPath.READ_FIRST_ABOVE) this.reading = true;
    else if (this.existingShare < ClaimPath.INSERT_FIRST_BELOW) this.reading = false;
  }
}
