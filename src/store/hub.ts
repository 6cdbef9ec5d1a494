// The studio's Hugging Face Hub settings: the access token and the Hub's address.
// The token lives in memory and in sessionStorage only (this tab, gone when it closes): never in
// localStorage, IndexedDB, share links, YAML or model cards. It is sent only to the Hub's origin
// (merge/publish.ts strips it from any other request).
import { DEFAULT_HUB_URL } from '../merge/hub-names';

const TOKEN_KEY = 'merge-studio.hf-token';
const ENDPOINT_KEY = 'merge-studio.hf-endpoint';

let token: string | undefined;
let endpoint: string | undefined;

function session(): Storage | undefined {
  try {
    return typeof sessionStorage === 'undefined' ? undefined : sessionStorage;
  } catch {
    return undefined; // storage disabled
  }
}

/** The token the user entered in this tab, or "". */
export function getHubToken(): string {
  if (token === undefined) token = session()?.getItem(TOKEN_KEY) ?? '';
  return token;
}

/** Remembers the token for this tab (memory + sessionStorage); "" forgets it. */
export function setHubToken(value: string): void {
  token = value.trim();
  const s = session();
  if (!s) return;
  if (token) s.setItem(TOKEN_KEY, token);
  else s.removeItem(TOKEN_KEY);
}

/** The Hub's address: what the user set in this tab, else the build's VITE_HF_ENDPOINT, else the public Hub. */
export function getHubEndpoint(): string {
  if (endpoint === undefined) endpoint = session()?.getItem(ENDPOINT_KEY) ?? '';
  const env = (import.meta as { env?: Record<string, string | undefined> }).env?.VITE_HF_ENDPOINT;
  return (endpoint || env || DEFAULT_HUB_URL).replace(/\/+$/, '');
}

/** Sets the Hub's address for this tab ("" = the default). */
export function setHubEndpoint(value: string): void {
  endpoint = value.trim();
  const s = session();
  if (!s) return;
  if (endpoint) s.setItem(ENDPOINT_KEY, endpoint);
  else s.removeItem(ENDPOINT_KEY);
}
