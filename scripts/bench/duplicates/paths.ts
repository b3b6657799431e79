import path from 'node:path';

/** The repository's root: servers start there, and results are written under it. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const RESULTS_DIR = 'bench-results';
