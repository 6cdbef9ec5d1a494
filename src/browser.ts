// Finds a Chromium-family browser the way a user expects, and the flags WebGPU needs headless.
// Shared by the CLI, the benchmarks and the test config (Node only).
import { existsSync } from 'node:fs';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
];

export class BrowserNotFoundError extends Error {
  override name = 'BrowserNotFoundError';
}

/** $CHROMIUM_PATH, then a system Chromium or Chrome. Throws with install advice when none exists. */
export function findChromium(): string {
  const env = process.env.CHROMIUM_PATH;
  if (env) {
    if (!existsSync(env)) throw new BrowserNotFoundError(`CHROMIUM_PATH is set to "${env}", but no file exists there.`);
    return env;
  }
  for (const c of CANDIDATES) if (existsSync(c)) return c;
  throw new BrowserNotFoundError(
    'No Chromium or Chrome found. Install one (Debian/Ubuntu: `sudo apt-get install chromium`; ' +
      'macOS/Windows: install Google Chrome) or set CHROMIUM_PATH to its executable.',
  );
}

/** Flags for headless WebGPU; on a machine without a GPU Chromium falls back to SwiftShader. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
