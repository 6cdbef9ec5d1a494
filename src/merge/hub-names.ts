// The Hub's naming rules and the token's form, without the Hub client: the studio's publish form
// checks them as the user types (the client, @huggingface/hub, loads only when publishing starts).

export { DEFAULT_HUB_ENDPOINT as DEFAULT_HUB_URL } from '../io/hub/ref';

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Why `repo` is not a Hub repository id ("namespace/name"), or undefined. The Hub's own rules. */
export function repoIdProblem(repo: string): string | undefined {
  const parts = repo.split('/');
  if (parts.length !== 2) return `"${repo}" is not a repository id: use namespace/name (your user name or an organisation, then the model's name)`;
  for (const p of parts) {
    if (!REPO_PART.test(p)) return `"${repo}": "${p}" may hold only letters, digits, "-", "_" and ".", and must start and end with a letter or digit`;
    if (p.includes('--') || p.includes('..')) return `"${repo}": "${p}" may not contain "--" or ".."`;
  }
  if (parts[1].length > 96) return `"${repo}": the name is ${parts[1].length} characters long; the Hub allows 96`;
  if (parts[1].endsWith('.git')) return `"${repo}": a name may not end with ".git"`;
  return undefined;
}

/** Why `token` cannot be a Hugging Face access token, or undefined. */
export function tokenProblem(token: string | undefined): string | undefined {
  if (!token) return 'no Hugging Face access token was given (one with the write role, from huggingface.co/settings/tokens)';
  if (!/^hf_[A-Za-z0-9_-]+$/.test(token.trim())) return 'the token does not look like a Hugging Face access token (they start with "hf_")';
  return undefined;
}

/** `text` with every occurrence of the token replaced (messages leave this module through it). */
export function redactToken(text: string, token: string | undefined): string {
  return token && token.length >= 4 ? text.split(token).join('hf_***') : text;
}

