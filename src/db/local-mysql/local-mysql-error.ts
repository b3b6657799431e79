/** The server could not be initialised, started, reused or stopped; `logTail` quotes its log. */
export class LocalMysqlError extends Error {
  constructor(
    message: string,
    readonly logTail = '',
    options?: ErrorOptions,
  ) {
    super(logTail ? `${message}\n--- end of server log ---\n${logTail}` : message, options);
    this.name = 'LocalMysqlError';
  }

  /** True when the server aborted because its TCP port was taken (the free-port race). */
  get addressInUse(): boolean {
    return /Address already in use|errno: 98\b|Bind on TCP\/IP port/.test(this.logTail);
  }
}
