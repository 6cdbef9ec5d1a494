// Share links: the recipe and its checkpoints' identities in the URL fragment (recipe/share-url.ts).
import { decodeShare, encodeShare, shareCodeFromHash, SHARE_PARAM, type ModelIdentity } from '../recipe/share-url';
import { recipeModels } from '../recipe/model-card';
import type { Recipe } from '../recipe/types';
import { identityOf } from './shelf';
import { useStudio } from './store';

/** The link for a recipe (default: the current one); copied to the clipboard where the browser allows it. */
export async function copyShareLink(recipe: Recipe = useStudio.getState().recipe): Promise<string> {
  const st = useStudio.getState();
  const identities: ModelIdentity[] = [];
  for (const ref of recipeModels(recipe)) {
    const m = st.models.find((x) => x.ref === ref);
    const id = m && identityOf(m);
    if (id) identities.push(id);
    else {
      // Not on the shelf: pass on what the link we opened said about it, else the name alone.
      const known = st.shared?.find((s) => s.ref === ref);
      identities.push(known ?? { ref, name: ref, tensors: 0, bytes: 0, hash: '' });
    }
  }
  const url = `${location.origin}${location.pathname}${location.search}#${SHARE_PARAM}=${encodeShare(recipe, identities)}`;
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch {
    /* no clipboard permission (e.g. an unfocused or headless page): the link is shown instead */
  }
  st.set({ shareLink: url, notice: { kind: 'info', text: copied ? `Share link copied (${url.length} characters).` : `Share link ready (${url.length} characters); copy it from the field.` } });
  return url;
}

/** Opens a "#share=…" link: restores its recipe and remembers which checkpoints it expects. */
export function openShareFromLocation(): boolean {
  const code = shareCodeFromHash(location.hash);
  if (code === undefined) return false;
  const res = decodeShare(code);
  const st = useStudio.getState();
  if (!res.ok) {
    st.set({ shareError: `This share link could not be opened: ${res.error}.` });
    return false;
  }
  st.setRecipe(res.payload.recipe);
  st.set({ shared: res.payload.models, shareError: null });
  // The recipe now lives in the studio (and localStorage); drop the fragment so a reload keeps edits.
  history.replaceState(null, '', location.pathname + location.search);
  return true;
}
