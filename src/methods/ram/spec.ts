import type { MethodSpec, ParamSpec } from '../spec';
import { checkNumber } from '../shared/checks';

const epsilon: ParamSpec = { name: 'epsilon', scope: 'global', type: 'number', default: 1e-5, min: 0, max: 1e-2, description: 'A task-vector entry counts as changed when its magnitude exceeds epsilon.' };

/** RAM (mergekit ram.py, arXiv 2601.13572): entries changed by one model are kept, shared ones averaged. */
export const ram: MethodSpec = {
  name: 'ram',
  label: 'RAM (reinforced agent merging)',
  description: 'Per entry: a change made by one model only is kept as is; changes made by several models are averaged over those models.',
  reference: 'https://arxiv.org/abs/2601.13572',
  base: 'required',
  minInputs: 1,
  params: [epsilon],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params) {
    checkNumber('ram', 'epsilon', params.epsilon, { min: 0 });
  },
};

/** RAM+ (tensor-local): RAM with each model's unique changes boosted by 1 + r·clamp(ρ, 0, α). */
export const ramplusTl: MethodSpec = {
  name: 'ramplus_tl',
  label: 'RAM+ (tensor-local)',
  description: 'RAM, with each model\'s unique changes scaled by λ = 1 + r·clamp(ρ, 0, α), ρ = (its shared changes) / (its unique changes) in this tensor.',
  reference: 'https://arxiv.org/abs/2601.13572',
  base: 'required',
  minInputs: 1,
  params: [
    { name: 'r', scope: 'global', type: 'number', default: 0.1, min: 0, max: 1, description: 'Strength of the boost of unique changes.' },
    { name: 'alpha', scope: 'global', type: 'number', default: 0.2, min: 0, max: 1, description: 'Upper clamp of the shared/unique ratio ρ.' },
    epsilon,
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params) {
    checkNumber('ramplus_tl', 'r', params.r);
    checkNumber('ramplus_tl', 'alpha', params.alpha);
    checkNumber('ramplus_tl', 'epsilon', params.epsilon, { min: 0 });
  },
};

// Host-side arithmetic shared by the WebGPU (./webgpu.ts) and CPU (./cpu.ts) implementations.

/**
 * RAM+ (tensor-local) scale of model i's unique changes: λ = 1 + r·clamp(ρ, 0, α),
 * ρ = shared / max(unique, epsilon), in float32 as torch computes it from the integer counts.
 */
export function ramLambda(shared: number, unique: number, r: number, alpha: number, epsilon: number): number {
  const f = Math.fround;
  const rho = f(f(shared) / f(Math.max(unique, f(epsilon))));
  return f(1 + f(f(r) * Math.min(Math.max(rho, 0), f(alpha))));
}

export const specs: readonly MethodSpec[] = [ram, ramplusTl];
