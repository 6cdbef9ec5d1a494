// Tensor element types the engine can read and write. Other safetensors dtypes are recognised
// (so headers validate) but are rejected when a merge needs them.

export type Dtype = 'F32' | 'F16' | 'BF16';
export const MERGEABLE_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16'];

/** Every dtype safetensors defines, with its size in bits (sub-byte types included). */
export const SAFETENSORS_DTYPE_BITS: Record<string, number> = {
  F64: 64, F32: 32, F16: 16, BF16: 16,
  I64: 64, I32: 32, I16: 16, I8: 8, U64: 64, U32: 32, U16: 16, U8: 8, BOOL: 8,
  F8_E4M3: 8, F8_E5M2: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, F8_E8M0: 8,
  F6_E3M2: 6, F6_E2M3: 6, F4: 4, C64: 64,
};

export function isMergeable(d: string): d is Dtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

export function itemSize(d: Dtype): number {
  return d === 'F32' ? 4 : 2;
}

/** mergekit / torch dtype names ↔ safetensors dtypes. */
export type TorchDtypeName = 'float32' | 'float16' | 'bfloat16';
export const TORCH_TO_DTYPE: Record<TorchDtypeName, Dtype> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
export const DTYPE_TO_TORCH: Record<Dtype, TorchDtypeName> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
