// THE method list: every merge method the engine runs, by folder (src/methods/<folder>/spec.ts).
// Everything else that varies by method derives from it: the WebGPU table (methods/webgpu.ts), the
// CPU table (methods/reference.ts), evolution's tables (spec.evolve), the editor's forms, the YAML
// checks. Specs only: Node tools (the CLI checks YAML before a browser starts) import this file,
// so nothing here may reach GPU code (the layer rule keeps method specs below recipe/ and gpu/).
import type { MethodSpec } from './spec';
import * as linear from './linear/spec';
import * as gta from './gta/spec';
import * as slerp from './slerp/spec';
import * as modelStock from './model-stock/spec';
import * as passthrough from './passthrough/spec';
import * as cabs from './cabs/spec';
import * as nearswap from './nearswap/spec';
import * as nuslerp from './nuslerp/spec';
import * as multislerp from './multislerp/spec';
import * as karcher from './karcher/spec';
import * as sce from './sce/spec';
import * as ram from './ram/spec';
import * as arceeFusion from './arcee-fusion/spec';
import { RecipeError } from '../errors';

/** Method folders in the order the studio lists their methods. */
export const METHOD_FOLDERS = { linear, gta, slerp, modelStock, passthrough, cabs, nearswap, nuslerp, multislerp, karcher, sce, ram, arceeFusion } satisfies Record<string, { specs: readonly MethodSpec[] }>;

export type MethodFolder = keyof typeof METHOD_FOLDERS;

/** Every method, with the folder that implements it. */
export const METHOD_ENTRIES: readonly { folder: MethodFolder; spec: MethodSpec }[] = (Object.keys(METHOD_FOLDERS) as MethodFolder[]).flatMap((folder) =>
  METHOD_FOLDERS[folder].specs.map((spec) => ({ folder, spec })),
);

export const METHODS: readonly MethodSpec[] = METHOD_ENTRIES.map((e) => e.spec);

/** mergekit methods that exist but this engine does not run yet (a clear error, not "unknown"). */
export const MERGEKIT_ONLY: readonly string[] = [];

export function getMethod(name: string): MethodSpec {
  const m = METHODS.find((x) => x.name === name);
  if (m) return m;
  if (MERGEKIT_ONLY.includes(name))
    throw new RecipeError(`merge_method "${name}" is a mergekit method this engine does not support yet; supported: ${METHODS.map((x) => x.name).join(', ')}`, { key: 'merge_method' });
  throw new RecipeError(`unknown merge_method "${name}"; expected one of: ${METHODS.map((x) => x.name).join(', ')}`, { key: 'merge_method' });
}
