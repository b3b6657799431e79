import { otherLiveUsersSync } from './holders.js';

/**
 * Servers this process holds. If Node exits normally (end of the event loop or process.exit)
 * without stop(), we send SIGTERM so no orphan keeps the data dir locked; that includes
 * adopted servers, because adopting one makes it ours. A SIGKILLed Node cannot run this hook:
 * the orphan keeps running, and the next `reuseRunning` start picks it up.
 */
const liveServers = new Map<number, string>();
let exitHookInstalled = false;

export function rememberLiveServer(pid: number, dataDir: string): void {
  liveServers.set(pid, dataDir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [pid, dataDir] of liveServers) {
      // Another live process still uses it (it reused the server): leave it to them.
      if (otherLiveUsersSync(dataDir).length > 0) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone; nothing to do in an exit hook.
      }
    }
  });
}

export function forgetLiveServer(pid: number): void {
  liveServers.delete(pid);
}
